"""The commit never passes a message still in flight (faust_app/consumerpatches.patch_commit_floor):
Faust's own `_new_offset` commits past one unacknowledged message at the committed offset."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from intervaltree import IntervalTree

from faust_app.consumerpatches import patch_commit_floor

TP = ("t", 0)


@dataclass(eq=False)
class Msg:
    offset: int
    acked: bool = False
    tp: Any = TP
    generation_id: int = 1


@dataclass
class App:
    consumer_generation_id: int = 1


class FakeConsumer:
    """The attributes `_new_offset` reads and writes, as Faust's Consumer keeps them."""

    def __init__(self, committed: int | None) -> None:
        self._acked: dict[Any, list[int]] = defaultdict(list)
        self._acked_index: dict[Any, set[int]] = defaultdict(set)
        self._gap: dict[Any, IntervalTree] = defaultdict(IntervalTree)
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._committed_offset[TP] = committed
        self._unacked_messages: set[Msg] = set()
        self.app = App()

    def take(self, offset: int) -> Msg:
        m = Msg(offset)
        self._unacked_messages.add(m)
        return m

    def ack(self, m: Msg) -> None:
        m.acked = True
        self._unacked_messages.discard(m)
        self._acked[TP].append(m.offset)
        self._acked_index[TP].add(m.offset)


def new_offset(c: FakeConsumer) -> int | None:
    from faust.transport.consumer import Consumer

    patch_commit_floor()
    result: int | None = Consumer._new_offset(c, TP)  # type: ignore[arg-type]
    if result is not None:
        c._committed_offset[TP] = result
    return result


def test_faust_alone_commits_past_the_message_in_flight() -> None:
    """The fault the patch is for, in the unpatched method (issue #606's figures)."""
    from faust.transport.consumer import Consumer

    patch_commit_floor()
    original = Consumer._blockhook_original_new_offset  # type: ignore[attr-defined]
    c = FakeConsumer(2585)
    slow = c.take(2585)
    for o in range(2586, 2590):
        c.ack(c.take(o))
    assert slow.acked is False
    assert original(c, TP) == 2590


def test_a_message_in_flight_at_the_head_holds_the_commit() -> None:
    c = FakeConsumer(2585)
    slow = c.take(2585)
    for o in range(2586, 2590):
        c.ack(c.take(o))
    assert new_offset(c) is None
    c.ack(slow)
    assert new_offset(c) == 2590


def test_a_message_in_flight_in_the_middle_caps_the_commit_below_it() -> None:
    c = FakeConsumer(10)
    msgs = [c.take(o) for o in range(10, 20)]
    for m in msgs[:4] + msgs[5:]:
        c.ack(m)
    assert new_offset(c) == 14
    c.ack(msgs[4])
    assert new_offset(c) == 20


@given(st.data())
def test_never_past_the_lowest_message_not_acknowledged(data: st.DataObject) -> None:
    start = data.draw(st.integers(min_value=1, max_value=1000))
    n = data.draw(st.integers(min_value=1, max_value=30))
    c = FakeConsumer(start)
    msgs = [c.take(start + i) for i in range(n)]
    order = data.draw(st.permutations(range(n)))
    for i in order:
        c.ack(msgs[i])
        if data.draw(st.booleans()):
            new_offset(c)
        lowest = min((m.offset for m in msgs if not m.acked), default=start + n)
        committed = c._committed_offset[TP]
        assert committed is None or committed <= lowest
    new_offset(c)
    assert c._committed_offset[TP] == start + n


def test_a_message_of_an_earlier_generation_does_not_hold_the_commit() -> None:
    """After a rebalance everything from the committed offset is read again: a message taken
    before it and never acknowledged is no floor (its new copy is)."""
    c = FakeConsumer(committed=10)
    c.take(10)  # generation 1, never finished
    c.app.consumer_generation_id = 2
    for o in (10, 11, 12):
        m = c.take(o)
        m.generation_id = 2
        c.ack(m)
    assert new_offset(c) == 13
