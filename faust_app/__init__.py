"""The Faust app: settings turned into Faust configuration, and the publisher over it.

Topics are declared in faust_app/topics.py, tables in faust_app/tables.py, and every use of
Faust's private API is in faust_app/internals.py and faust_app/consumerpatches.py."""

from __future__ import annotations

import faust

from core.settings import Settings, load_settings
from faust_app.commits import note_held_commit
from faust_app.consumerpatches import patch_commit_floor, patch_fetch_order, patch_stale_acks
from faust_app.fetchnotes import gapless_topics, note_fetch_order, note_stale_ack
from faust_app.internals import set_fetch_max_wait
from faust_app.publisher import FaustPublisher
from faust_app.recovery import install as install_recovery
from streams.partition import partitioner

settings: Settings = load_settings()

# The longest the worker's own consumer (every hop of the pipeline: follower ticks, blocks,
# transfers, deliveries) waits for data, whatever `fetch_max_wait_ms` (which the views' read
# models follow) says: the embedded broker answers a fetch only after part of its wait, so
# each hop costs up to about this. Lower only for the one consumer: at 20 ms for every
# consumer, an idle worker spent 18% of a core instead of 10%.
PIPELINE_FETCH_MAX_WAIT_MS = 20

set_fetch_max_wait(min(settings.fetch_max_wait_ms, PIPELINE_FETCH_MAX_WAIT_MS))
patch_commit_floor(on_held=note_held_commit)
patch_stale_acks(on_stale=note_stale_ack)
patch_fetch_order(gapless_topics(settings), note_fetch_order)
install_recovery(settings)


def make_app(s: Settings) -> faust.App:
    """A Faust app configured from settings (RocksDB tables, at-least-once, our own web API)."""
    return faust.App(
        s.app_id,
        broker=s.broker,
        store="rocksdb://",
        datadir=str(s.data_dir),
        topic_partitions=s.partitions,
        topic_replication_factor=s.replication_factor,
        topic_allow_declare=True,
        producer_partitioner=partitioner,  # Kafka's default, a word at a time
        web_enabled=False,
        autodiscover=False,
        processing_guarantee="at_least_once",
        broker_rebalance_timeout=s.rebalance_timeout_s,
        broker_session_timeout=s.session_timeout_s,
        broker_heartbeat_interval=min(3.0, s.session_timeout_s / 3),
        producer_max_request_size=16 * 1024 * 1024,
        consumer_max_fetch_size=16 * 1024 * 1024,
        stream_buffer_maxsize=1024,
        table_standby_replicas=0,
        # Kept on as a last guard: faust_app/recovery.py rebuilds, before this check, every
        # partition whose store is past its changelog's (true) end, so it never fires.
        recovery_consistency_check=True,
        logging_config=None,
    )


app = make_app(settings)
publisher = FaustPublisher(app, settings)
