"""inorder: finished out of order, released in order per partition."""

from __future__ import annotations

import random

from streams.inorder import InOrder


def test_a_later_item_waits_for_an_earlier_one_of_its_partition_only() -> None:
    q: InOrder[str] = InOrder()
    a0, a1, b0 = q.add("a0", 0), q.add("a1", 0), q.add("b0", 1)
    assert q.finish(a1) == []  # a0 still in flight
    assert q.finish(b0) == ["b0"]  # another partition is not held back
    assert len(q) == 2
    assert q.finish(a0) == ["a0", "a1"]
    assert len(q) == 0


def test_any_finishing_order_releases_each_item_once_in_order() -> None:
    rng = random.Random(7)
    for _ in range(50):
        q: InOrder[int] = InOrder()
        tickets = [q.add(i, i % 3) for i in range(40)]
        released: list[int] = []
        for t in rng.sample(tickets, len(tickets)):
            released += q.finish(t)
        assert sorted(released) == list(range(40))
        for p in range(3):
            mine = [i for i in released if i % 3 == p]
            assert mine == sorted(mine)
        assert len(q) == 0


def test_an_item_of_several_parts_is_released_after_its_last_part() -> None:
    q: InOrder[str] = InOrder()
    batch, after = q.add("batch", 0, parts=3), q.add("after", 0)
    assert q.finish(after) == []
    assert q.finish(batch) == [] and q.finish(batch) == []  # two of three parts done
    assert len(q) == 2
    assert q.finish(batch) == ["batch", "after"]
    assert len(q) == 0
