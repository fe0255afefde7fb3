"""Faust consumer patches that keep at-least-once: the commit never passes a message in
flight, acknowledgements from before a rebalance do not count, and no fetched message is
skipped around a rebalance. Private API of Faust 0.15.3 / aiokafka 0.14.0, like
faust_app/internals.py (tests/unit/test_faust_internals.py checks what they rely on)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from faust_app.internals import in_consumer_thread
from streams.fetchorder import FetchOrder

logger = logging.getLogger(__name__)


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
