"""Every use of Faust's (and aiokafka's) private API, in one place.

Each was read in the versions below; tests/unit/test_faust_internals.py fails loudly when an
installed version differs or one of these internals has moved, so an upgrade is checked here
rather than discovered as lost messages or a stalled worker."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from streams.fetchorder import FetchOrder

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


def patch_commit_floor(on_held: Callable[[Any, int, int], None] | None = None) -> None:
    """Never commit past a message still being processed (faust-streaming issue #606).

    `Consumer._new_offset` commits the first run of acknowledged offsets, and lets one missing
    offset at the head of that run pass as a compacted-away gap: a message at the committed
    offset that is still in flight, with later ones acknowledged, is committed past and lost
    if the worker stops before it finishes. The patch holds back every acknowledged offset at
    or past the lowest one still in flight (tracked by a stream, not acknowledged:
    `Consumer._unacked_messages`), so the commit stops below it. `on_held(tp, offset,
    later)` hears of each commit so held while `later` acknowledged offsets wait past it,
    and `on_held(tp, -1, 0)` when the partition's commit is not held."""
    from faust.transport.consumer import Consumer

    cls: Any = Consumer
    original = getattr(cls, "_blockhook_original_new_offset", cls._new_offset)

    def new_offset(self: Any, tp: Any) -> int | None:
        floor = in_flight_floor(self, tp)
        acked: list[int] = self._acked[tp]
        if floor is None or not acked:
            if on_held is not None:
                on_held(tp, -1, 0)
            return cast(int | None, original(self, tp))
        held = [o for o in acked if o >= floor]
        if on_held is not None:
            on_held(tp, floor if held else -1, len(held))
        acked[:] = [o for o in acked if o < floor]
        try:
            offset = cast(int | None, original(self, tp)) if acked else None
        finally:
            acked.extend(held)
        return offset if offset is None or offset <= floor else floor

    setattr(cls, "_blockhook_original_new_offset", original)  # noqa: B010
    setattr(cls, "_new_offset", new_offset)  # noqa: B010


def in_flight_floor(consumer: Any, tp: Any) -> int | None:
    """The lowest offset of tp that a stream took in this generation and did not acknowledge
    yet (a message of an earlier generation is read again from the committed offset)."""
    generation = consumer.app.consumer_generation_id
    return min(
        (
            m.offset
            for m in list(consumer._unacked_messages)
            if m.tp == tp
            and not m.acked
            and getattr(m, "generation_id", None) in (None, generation)
        ),
        default=None,
    )


def patch_stale_acks(on_stale: Callable[[Any], None] | None = None) -> None:
    """Acknowledgements of messages fetched in an earlier consumer generation do not count.

    After a rebalance Faust seeks every partition back to its committed offset, so each
    message fetched before it is read again. Yet `Stream._py_aiter` acknowledges, unprocessed,
    every message of an older generation it still finds in its queue, and `Consumer.ack`
    records that offset as done for the new generation: a commit can then pass the message's
    new copy before it is processed. The patch marks such a message done without recording
    its offset (`on_stale(message)` hears of it)."""
    from faust.transport.consumer import Consumer
    from mode.utils.futures import notify

    cls: Any = Consumer
    original = getattr(cls, "_blockhook_original_ack", cls.ack)

    def ack(self: Any, message: Any) -> bool:
        generation = getattr(message, "generation_id", None)
        if generation is None or generation == self.app.consumer_generation_id:
            return cast(bool, original(self, message))
        if not message.acked:
            message.acked = True
            self._unacked_messages.discard(message)
            notify(self._waiting_for_ack)
            if on_stale is not None:
                on_stale(message)
        return False

    setattr(cls, "_blockhook_original_ack", original)  # noqa: B010
    setattr(cls, "ack", ack)  # noqa: B010


def patch_fetch_order(
    topics: set[str], on_event: Callable[[str, Any, int, int | None], None]
) -> FetchOrder:
    """Keep the messages of `topics` (those without gaps: not compacted) in offset order on
    their way from the fetcher to the streams (streams/fetchorder.py says why).

    Wraps `Consumer.getmany` (the generator Faust's fetch loop `_drain_messages` reads from)
    and the seeks that set where reading resumes (`seek_to_committed` after a rebalance,
    `seek`, `seek_wait`) and the revocations. A message past the next expected offset makes
    the partition be read again from that offset (the aiokafka consumer's `seek`, in the
    consumer's thread, and Faust's `_read_offset`); `on_event(kind, tp, offset, expected)`
    hears of each ("reread"; "gap" with the first offset left, when the expected offset was
    removed by retention; "read_offset")."""
    from faust.transport.consumer import Consumer, ThreadDelegateConsumer

    from streams.fetchorder import Verdict

    order = FetchOrder()
    base: Any = Consumer
    delegate: Any = ThreadDelegateConsumer
    getmany_original = getattr(base, "_blockhook_original_getmany", base.getmany)
    seek_original = getattr(base, "_blockhook_original_seek", base.seek)
    revoked_original = getattr(base, "_blockhook_original_revoked", base.on_partitions_revoked)
    committed_original = getattr(
        delegate, "_blockhook_original_seek_to_committed", delegate.seek_to_committed
    )
    wait_original = getattr(delegate, "_blockhook_original_seek_wait", delegate.seek_wait)

    async def getmany(self: Any, timeout: float) -> Any:  # noqa: ASYNC109 (Faust's)
        order.new_batch()
        async for tp, message in getmany_original(self, timeout=timeout):
            if tp.topic not in topics:
                yield tp, message
                continue
            decision = order.decide(tp, message.offset, self._read_offset.get(tp))
            verdict = decision.verdict
            if verdict is Verdict.SKIP:
                continue
            if verdict is Verdict.REREAD and decision.repeat:
                earliest = await _earliest(self, tp)
                if earliest is not None and order.begins_at(tp, earliest):
                    on_event("gap", tp, earliest, decision.expected)
                    decision = order.decide(tp, message.offset, self._read_offset.get(tp))
                    verdict = decision.verdict
            if verdict is Verdict.REREAD:
                on_event("reread", tp, message.offset, decision.expected)
                await _reread(self, tp, cast(int, decision.expected))
                continue
            if decision.lower_read_offset:
                on_event("read_offset", tp, message.offset, self._read_offset.get(tp))
                self._read_offset[tp] = message.offset
            yield tp, message

    async def seek(self: Any, partition: Any, offset: int) -> None:
        await seek_original(self, partition, offset)
        order.seeked(partition, offset)

    async def on_partitions_revoked(self: Any, revoked: Any) -> None:
        order.forget(revoked)
        await revoked_original(self, revoked)

    async def seek_to_committed(self: Any) -> Any:
        offsets = await committed_original(self)
        for tp, offset in offsets.items():
            order.seeked(tp, offset)
        return offsets

    async def seek_wait(self: Any, partitions: Any) -> None:
        await wait_original(self, partitions)
        for tp, offset in partitions.items():
            order.seeked(tp, offset)

    for cls, name, original, new in (
        (base, "getmany", getmany_original, getmany),
        (base, "seek", seek_original, seek),
        (base, "on_partitions_revoked", revoked_original, on_partitions_revoked),
        (delegate, "seek_to_committed", committed_original, seek_to_committed),
        (delegate, "seek_wait", wait_original, seek_wait),
    ):
        keep = {"on_partitions_revoked": "revoked"}.get(name, name)
        setattr(cls, f"_blockhook_original_{keep}", original)
        setattr(cls, name, new)
    return order


async def _earliest(consumer: Any, tp: Any) -> int | None:
    """The first offset tp holds now (`Consumer.earliest_offsets`), None if unknown."""
    try:
        offsets = await consumer.earliest_offsets(tp)
    except Exception as exc:
        logger.warning("%s[%d]: first offset unknown: %r", tp.topic, tp.partition, exc)
        return None
    value = offsets.get(tp)
    return value if isinstance(value, int) else None


async def _reread(consumer: Any, tp: Any, offset: int) -> None:
    """Make the fetcher read tp again from offset, and Faust's fetch loop take it."""

    def seek(kafka_consumer: Any) -> None:
        kafka_consumer.seek(tp, offset)

    try:
        await in_consumer_thread(consumer.app, seek)
    except Exception as exc:  # revoked meanwhile: the next assignment seeks anyway
        logger.warning(
            "%s[%d]: could not read again from %d: %r", tp.topic, tp.partition, offset, exc
        )
        return
    consumer._read_offset[tp] = offset


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
