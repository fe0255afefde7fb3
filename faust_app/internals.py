"""Every use of Faust's (and aiokafka's) private API, in one place with
faust_app/consumerpatches.py (the consumer's at-least-once fixes).

Each was read in the versions below; tests/unit/test_faust_internals.py fails loudly when an
installed version differs or one of these internals has moved, so an upgrade is checked here
rather than discovered as lost messages or a stalled worker."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

CHECKED_WITH = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


def set_fetch_max_wait(ms: int) -> None:
    """Make the worker consumer's fetch wait a setting.

    Faust hard-codes fetch_max_wait_ms=1500 in `AIOKafkaConsumerThread._create_worker_consumer`.
    Kafka answers a fetch as soon as data arrives, but Tansu (the embedded broker) answers only
    after part of that wait, which cost ~0.75 s per hop between agents. The consumer it
    returns keeps the wait in aiokafka's `_fetch_max_wait_ms`, read by its fetcher at start."""
    from faust.transport.drivers import aiokafka as driver

    cls = driver.AIOKafkaConsumerThread
    original = getattr(cls, "_blockhook_original_create", cls._create_worker_consumer)

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = ms
        return consumer

    setattr(cls, "_blockhook_original_create", original)  # noqa: B010
    setattr(cls, "_create_worker_consumer", create)  # noqa: B010


def aiokafka_producer(app: Any) -> Any:
    """The aiokafka producer under Faust's (`Producer._ensure_producer`), for record
    batches: Faust's own send costs several times the producer's work per message."""
    return app.producer._ensure_producer()


async def in_consumer_thread(app: Any, fun: Callable[..., None], *args: Any) -> None:
    """Run fun(aiokafka consumer, *args) in Faust's consumer thread, which owns that consumer
    (`Consumer._thread`, `ConsumerThread._ensure_consumer`, `ServiceThread.call_thread`)."""
    thread = app.consumer._thread
    await thread.call_thread(fun, thread._ensure_consumer(), *args)


def member_id(app: Any) -> str | None:
    """The group member id the worker's consumer joined with (aiokafka's coordinator keeps it
    in `_coordinator.member_id`; "" before the first join), or None before the consumer
    exists."""
    try:
        consumer = app.consumer._thread._ensure_consumer()
    except Exception:
        return None
    coordinator = getattr(consumer, "_coordinator", None)
    mid = getattr(coordinator, "member_id", None)
    return mid or None


def drop_store_partition(table: Any, partition: int) -> None:
    """Close and delete one partition's RocksDB store of a table (`Store._dbs`, its key index
    and `partition_path`); the next use opens it empty, for recovery to fill from the
    changelog."""
    import shutil

    store = table.data
    db = store._dbs.pop(partition, None)
    if db is not None:
        db.close()
    shutil.rmtree(store.partition_path(partition), ignore_errors=True)
    index = store._key_index
    for key in [k for k, p in list(index.items()) if p == partition]:
        index.pop(key, None)


class RecoveryHooks:
    """What the patched recovery calls out to: the true high watermarks of changelog
    partitions (`highwaters(listed_ends) -> {tp: highwater}`), a report of each partition
    dropped for a rebuild (`rebuilt(table name, Rebuild)`), and the start and end of each
    recovery (`started()`, `ended()`)."""

    def __init__(
        self,
        highwaters: Callable[[dict[Any, int]], Awaitable[dict[Any, int]]],
        rebuilt: Callable[[str, Any], None],
        started: Callable[[], None],
        ended: Callable[[], None],
    ) -> None:
        self.highwaters = highwaters
        self.rebuilt = rebuilt
        self.started = started
        self.ended = ended


def patch_recovery(hooks: RecoveryHooks) -> None:
    """Make Faust's table recovery (`faust.tables.recovery.Recovery`) read the changelogs to
    their true end and rebuild, rather than refuse, a partition whose local store disagrees
    with its changelog.

    `_build_highwaters(consumer, tps, destination, title)` fills `destination` with each
    changelog partition's last offset from ListOffsets; the patch raises each to what a fetch
    reports. `_build_offsets(consumer, tps, destination, title)` then turns the stores'
    persisted offsets (already in `destination`) into where reading starts, and the caller
    raises ConsistencyError for a store past the end; the patch first drops the stores that
    disagree (streams/recoverycheck) and clears their offsets, so they are read again from
    the changelog's first record. Only active partitions are looked at (no standbys here)."""
    from faust.tables.recovery import Recovery

    from streams.recoverycheck import to_rebuild, true_last

    hw_original = Recovery.__dict__.get("_blockhook_build_highwaters", Recovery._build_highwaters)
    off_original = Recovery.__dict__.get("_blockhook_build_offsets", Recovery._build_offsets)

    async def build_highwaters(
        self: Any, consumer: Any, tps: set[Any], destination: Any, title: str
    ) -> None:
        await hw_original(self, consumer, tps, destination, title)
        if not tps:
            return
        listed = {
            tp: (destination.get(tp) if destination.get(tp) is not None else -1) for tp in tps
        }
        fetched = await hooks.highwaters({tp: last + 1 for tp, last in listed.items()})
        for tp in tps:
            last = true_last(listed[tp], fetched.get(tp))
            if last is not None and last != listed[tp]:
                logger.info(
                    "changelog %s: last offset %d (ListOffsets said %d)", tp, last, listed[tp]
                )
                destination[tp] = last

    async def build_offsets(
        self: Any, consumer: Any, tps: set[Any], destination: Any, title: str
    ) -> None:
        if title == "active" and tps:
            earliest = await consumer.earliest_offsets(*tps)
            plan = to_rebuild(
                {tp: destination.get(tp) for tp in sorted(tps)},
                {tp: self.active_highwaters.get(tp) for tp in tps},
                {tp: (0 if earliest.get(tp) is None else earliest[tp]) for tp in tps},
            )
            for r in plan:
                table = self.tp_to_table[r.key]
                drop_store_partition(table, r.key.partition)
                destination[r.key] = None
                hooks.rebuilt(table.name, r)
        await off_original(self, consumer, tps, destination, title)

    started_original = Recovery.__dict__.get(
        "_blockhook_set_started", Recovery._set_recovery_started
    )
    ended_original = Recovery.__dict__.get("_blockhook_set_ended", Recovery._set_recovery_ended)

    def set_started(self: Any) -> None:
        if not self.in_recovery:
            hooks.started()
        started_original(self)

    def set_ended(self: Any) -> None:
        if self.in_recovery:
            hooks.ended()
        ended_original(self)

    setattr(Recovery, "_blockhook_set_started", started_original)  # noqa: B010
    setattr(Recovery, "_blockhook_set_ended", ended_original)  # noqa: B010
    setattr(Recovery, "_set_recovery_started", set_started)  # noqa: B010
    setattr(Recovery, "_set_recovery_ended", set_ended)  # noqa: B010
    setattr(Recovery, "_blockhook_build_highwaters", hw_original)  # noqa: B010
    setattr(Recovery, "_blockhook_build_offsets", off_original)  # noqa: B010
    setattr(Recovery, "_build_highwaters", build_highwaters)  # noqa: B010
    setattr(Recovery, "_build_offsets", build_offsets)  # noqa: B010


def recovery_progress(app: Any) -> tuple[bool, int]:
    """Whether table recovery is under way, and how many changelog records it has left
    (`Recovery.in_recovery`, `active_remaining_total()`)."""
    recovery = app.tables.recovery
    try:
        remaining = int(recovery.active_remaining_total())
    except Exception:
        remaining = 0
    return bool(recovery.in_recovery), remaining


def restart_recovery(app: Any) -> None:
    """Start table recovery again with the same assignment: Faust's recovery loop sees its
    start signal, abandons the round it is in (`RebalanceAgain`), seeks every changelog
    partition to what it has applied so far and reads on from there."""
    app.tables.recovery.signal_recovery_start.set()


def consumer_positions(app: Any) -> list[tuple[str, int, int | None, int | None]]:
    """For each partition assigned to the worker's consumer: (topic, partition, the high
    watermark the last fetch reported, the last offset Faust handed to a stream), either
    None when unknown (aiokafka's `highwater(tp)`, Faust's `Consumer._read_offset`)."""
    consumer = app.consumer
    try:
        kc = consumer._thread._ensure_consumer()
        assigned = list(kc.assignment())
    except Exception:
        return []
    read = consumer._read_offset
    out: list[tuple[str, int, int | None, int | None]] = []
    for tp in assigned:
        try:
            hw = kc.highwater(tp)
        except Exception:
            hw = None
        out.append((tp.topic, tp.partition, hw, read.get(tp)))
    return out
