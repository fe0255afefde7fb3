"""No message is skipped between the fetcher and the streams (streams/fetchorder.py,
faust_app/consumerpatches.patch_fetch_order and patch_stale_acks).

The fetch loop is modelled as Faust's `_drain_messages` decides (a message below the read
offset is dropped; a jump forward counts the offsets between as a gap);
test_faust_internals checks that the installed Faust still decides so."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from faust.types import TP
from faust.types.tuples import ConsumerMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.fetchorder import FetchOrder, Verdict

T = TP("blocks", 5)


def drain(
    order: FetchOrder | None, batch: list[int], read: dict[Any, int | None]
) -> tuple[list[int], int | None]:
    """One batch through the guard (if any) and Faust's read-offset rule: (the offsets
    handed to the streams, the offset to read again from, if any)."""
    handed: list[int] = []
    reread: int | None = None
    if order is not None:
        order.new_batch()
    for offset in batch:
        if order is not None:
            d = order.decide(T, offset, read.get(T))
            if d.verdict is Verdict.SKIP:
                continue
            if d.verdict is Verdict.REREAD:
                reread = d.expected
                read[T] = d.expected
                continue
            if d.lower_read_offset:
                read[T] = offset
        r = read.get(T)
        if r is None or offset >= r:
            handed.append(offset)
            read[T] = offset
    return handed, reread


def test_a_stale_message_after_the_seek_loses_the_run_before_it_without_the_guard() -> None:
    """faust-streaming #221: after the seek to 426, a message fetched before it (433) comes
    first; the partition's own 426-440 then fall below the read offset up to 433."""
    read: dict[Any, int | None] = {T: 426}
    handed, _ = drain(None, [433], read)
    more, _ = drain(None, list(range(426, 441)), read)
    assert sorted(set(handed + more)) == list(range(433, 441))  # 426-432 lost


def test_the_guard_reads_again_from_the_expected_offset() -> None:
    order = FetchOrder()
    order.seeked(T, 426)
    read: dict[Any, int | None] = {T: 426}
    handed, reread = drain(order, [433, 434, 435], read)
    assert handed == [] and reread == 426
    more, again = drain(order, list(range(426, 441)), read)
    assert more == list(range(426, 441)) and again is None


def test_a_jump_that_comes_back_is_read_again_unless_retention_removed_the_records() -> None:
    order = FetchOrder()
    order.seeked(T, 10)
    first = order.decide(T, 20, 10)
    assert first.verdict is Verdict.REREAD and not first.repeat
    order.new_batch()
    again = order.decide(T, 20, 10)
    assert again.verdict is Verdict.REREAD and again.repeat and again.expected == 10
    assert not order.begins_at(T, 10)  # 10 is still there: read again once more
    assert order.begins_at(T, 20)  # retention removed 10-19: read on from 20
    d = order.decide(T, 20, 10)
    assert d.verdict is Verdict.DELIVER and not d.lower_read_offset
    assert order.decide(T, 21, 20).verdict is Verdict.DELIVER


def test_a_message_below_a_stale_read_offset_is_handed_over() -> None:
    order = FetchOrder()
    order.seeked(T, 5)
    read: dict[Any, int | None] = {T: 9}  # raised by something the guard did not see
    handed, _ = drain(order, [5, 6, 7], read)
    assert handed == [5, 6, 7]


def test_offsets_already_handed_over_are_left_to_faust() -> None:
    order = FetchOrder()
    order.seeked(T, 0)
    read: dict[Any, int | None] = {T: 0}
    assert drain(order, [0, 1, 2], read)[0] == [0, 1, 2]
    assert order.decide(T, 1, 2).verdict is Verdict.ALREADY


def test_unknown_and_revoked_partitions_take_what_comes() -> None:
    order = FetchOrder()
    assert order.decide(T, 50, None).verdict is Verdict.DELIVER
    order.forget([T])
    assert order.decide(T, 90, 50).verdict is Verdict.DELIVER
    order.seeked(T, -1)  # no committed offset: the consumer decides
    assert order.decide(T, 3, None).verdict is Verdict.DELIVER


@settings(max_examples=300)
@given(
    committed=st.integers(0, 50),
    stale=st.lists(st.lists(st.integers(0, 80), min_size=1, max_size=6), max_size=4),
    size=st.integers(1, 7),
)
def test_every_offset_from_the_seek_is_handed_over(
    committed: int, stale: list[list[int]], size: int
) -> None:
    """Whatever stale batches (fetched before the seek, any offsets) arrive first, the
    partition's own records from the committed offset are all handed over."""
    end = 80
    order = FetchOrder()
    order.seeked(T, committed)
    read: dict[Any, int | None] = {T: committed}
    handed: set[int] = set()
    position = committed
    for batch in stale:
        got, reread = drain(order, sorted(batch), read)
        handed.update(got)
        if reread is not None:
            position = reread
    while position <= end:
        batch = list(range(position, min(position + size, end + 1)))
        got, reread = drain(order, batch, read)
        handed.update(got)
        position = reread if reread is not None else batch[-1] + 1
    assert set(range(committed, end + 1)) <= handed


# The patches, driven through Faust's own methods.


class FakeThread:
    def __init__(self) -> None:
        self.seeks: list[tuple[Any, int]] = []

    def _ensure_consumer(self) -> Any:
        thread = self

        class Kafka:
            def seek(self, tp: Any, offset: int) -> None:
                thread.seeks.append((tp, offset))

        return Kafka()

    async def call_thread(self, fun: Any, *args: Any) -> Any:
        return fun(*args)


class FakeApp:
    def __init__(self) -> None:
        self.consumer_generation_id = 7
        self.consumer: Any = None

        class Monitor:
            def track_tp_end_offset(self, tp: Any, offset: int) -> None:
                pass

        self.monitor = Monitor()


class FakeConsumer:
    """What Faust's `Consumer.getmany` and `Consumer.ack` read, with batches to return."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.app = FakeApp()
        self.app.consumer = self
        self._thread = FakeThread()
        self._read_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self.batches = batches
        self.should_stop = False
        self.flow_active = True
        self._buffered_partitions: set[Any] = set()
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._acked_index: dict[Any, set[int]] = defaultdict(set)
        self._unacked_messages: set[Any] = set()
        self._n_acked = 0
        self._waiting_for_ack = None

        class Scheduler:
            def iterate(self, records: dict[Any, list[Any]]) -> Any:
                for tp, messages in records.items():
                    for m in messages:
                        yield tp, m

        self.scheduler = Scheduler()

    async def _wait_next_records(self, timeout: float) -> Any:  # noqa: ASYNC109 (Faust's)
        offsets = self.batches.pop(0)
        return {T: [message(o, 7) for o in offsets]}, {T}

    def _to_message(self, tp: Any, record: Any) -> Any:
        return record

    def highwater(self, tp: Any) -> int:
        return 1000


def message(offset: int, generation: int) -> ConsumerMessage:
    return ConsumerMessage(
        T.topic, T.partition, offset, 0.0, 0, None, None, b"", None, tp=T, generation_id=generation
    )


def test_the_patched_getmany_reads_again_in_the_consumer_thread() -> None:
    from faust.transport.consumer import Consumer

    from faust_app import settings  # applies the app's patches, restored below
    from faust_app.consumerpatches import patch_fetch_order
    from faust_app.fetchnotes import gapless_topics, note_fetch_order

    events: list[tuple[str, int, int | None]] = []
    order = patch_fetch_order({T.topic}, lambda kind, tp, o, e: events.append((kind, o, e)))
    try:
        c = FakeConsumer([[433, 434], list(range(426, 436))])
        c._read_offset[T] = 426
        order.seeked(T, 426)

        async def run() -> list[int]:
            got: list[int] = []
            for _ in range(2):
                async for _tp, m in Consumer.getmany(c, timeout=0.1):  # type: ignore[arg-type]
                    got.append(m.offset)
            return got

        assert asyncio.run(run()) == list(range(426, 436))
        assert c._thread.seeks == [(T, 426)]
        assert events == [("reread", 433, 426)]
    finally:
        patch_fetch_order(gapless_topics(settings), note_fetch_order)


def test_an_acknowledgement_from_an_earlier_generation_does_not_count() -> None:
    from faust.transport.consumer import Consumer

    import faust_app  # noqa: F401  (applies the patches)

    c = FakeConsumer([])
    c._committed_offset[T] = 10

    class Topics:
        def acks_enabled_for(self, topic: str) -> bool:
            return True

    c.app.topics = Topics()  # type: ignore[attr-defined]
    old, new = message(12, 6), message(11, 7)
    c._unacked_messages.update({old, new})
    assert Consumer.ack(c, old) is False  # type: ignore[arg-type]
    assert old.acked and old not in c._unacked_messages
    assert c._acked[T] == []  # not counted: its new copy is read again
    assert Consumer.ack(c, new) is True  # type: ignore[arg-type]
    assert c._acked[T] == [11]
