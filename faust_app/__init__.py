"""The Faust app: settings turned into Faust configuration; nothing else."""

from __future__ import annotations

from typing import Any

import faust

from core.settings import Settings, load_settings
from streams.partition import partitioner

settings: Settings = load_settings()


def _set_fetch_max_wait(ms: int) -> None:
    """Faust hard-codes fetch_max_wait_ms=1500 for its worker consumer. Kafka answers a fetch
    as soon as data arrives, but Tansu (the embedded broker) answers only after part of that
    wait, which cost ~0.75 s per hop between agents. Make the wait a setting."""
    from faust.transport.drivers import aiokafka as driver

    cls = driver.AIOKafkaConsumerThread
    original = getattr(cls, "_blockhook_original_create", cls._create_worker_consumer)

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = ms
        return consumer

    setattr(cls, "_blockhook_original_create", original)  # noqa: B010
    setattr(cls, "_create_worker_consumer", create)  # noqa: B010


_set_fetch_max_wait(settings.fetch_max_wait_ms)


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
        recovery_consistency_check=s.recovery_consistency_check,
        logging_config=None,
    )


app = make_app(settings)
