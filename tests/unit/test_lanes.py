"""Lanes: runners per target capped, FIFO per lane, one item at a time per key."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.lanes import Lanes


def test_runners_are_capped_per_target_and_given_back_when_the_lane_is_empty() -> None:
    lanes: Lanes[int] = Lanes(per_target=3)
    starts = [lanes.add("a", i, i) for i in range(5)]
    assert starts == [1, 1, 1, 0, 0] and lanes.runners("a") == 3
    assert lanes.add("b", 99, 99) == 1  # another target has its own cap
    taken = [lanes.take("a") for _ in range(5)]
    assert [t[1] for t in taken if t] == [0, 1, 2, 3, 4]
    assert lanes.take("a") is None and lanes.runners("a") == 2
    assert lanes.take("a") is None and lanes.take("a") is None and lanes.runners("a") == 0
    assert lanes.add("a", 7, 7) == 1  # a place given back can be taken again


def test_an_item_waits_for_the_earlier_one_of_its_key_even_on_another_lane() -> None:
    lanes: Lanes[str] = Lanes(per_target=16)
    assert lanes.add("a", "k", "seen") == 1
    assert lanes.add("b", "k", "confirmed") == 0  # held: "seen" is not finished
    assert lanes.add("b", "other", "x") == 1
    assert lanes.take("a") == ("k", "seen")
    assert lanes.take("b") == ("other", "x")
    assert lanes.take("b") is None  # "confirmed" is not in its lane yet
    assert lanes.done("other") is None
    assert lanes.done("k") == ("b", 1)  # released into lane b, which needs a runner again
    assert lanes.take("b") == ("k", "confirmed")
    assert lanes.done("k") is None
    assert lanes.add("a", "k", "again") == 1  # the key is free


def test_a_released_item_joins_a_full_lane_without_a_new_runner() -> None:
    lanes: Lanes[int] = Lanes(per_target=1)
    assert lanes.add("a", "k", 1) == 1
    assert lanes.add("a", "k", 2) == 0
    assert lanes.take("a") == ("k", 1)
    assert lanes.done("k") == ("a", 0)  # its one runner is still working the lane
    assert lanes.take("a") == ("k", 2)


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["add", "step"]),
            st.integers(0, 2),  # target
            st.integers(0, 3),  # key
        ),
        max_size=80,
    ),
    cap=st.integers(1, 3),
)
def test_random_schedules_keep_the_caps_and_the_order_per_key(
    ops: list[tuple[str, int, int]], cap: int
) -> None:
    """Simulated runners: each holds at most one item; every item is taken exactly once,
    never more than `cap` runners per target, never two items of a key at once, and the
    items of a key in the order they were added."""
    lanes: Lanes[int] = Lanes(per_target=cap)
    runners: dict[str, list[tuple[object, int] | None]] = defaultdict(list)  # their item
    added: dict[int, list[int]] = defaultdict(list)
    taken: dict[int, list[int]] = defaultdict(list)
    in_flight: set[object] = set()
    n = 0

    def start(target: str, count: int) -> None:
        runners[target].extend([None] * count)

    def step(target: str) -> None:
        """Each runner of target finishes what it holds, then takes the next item."""
        current, runners[target] = runners[target], []
        for holding in current:
            if holding is not None:
                in_flight.discard(holding[0])
                released = lanes.done(holding[0])
                if released is not None:
                    start(*released)
            got = lanes.take(target)
            if got is not None:  # else this runner stops
                assert got[0] not in in_flight
                in_flight.add(got[0])
                taken[int(str(got[0]))].append(got[1])
                runners[target].append(got)
        assert lanes.runners(target) == len(runners[target])

    for op, t, k in ops:
        target = f"t{t}"
        if op == "add":
            added[k].append(n)
            start(target, lanes.add(target, str(k), n))
            n += 1
        else:
            step(target)
        assert all(lanes.runners(x) <= cap for x in runners)
    while any(runners.values()):  # drain
        for target in list(runners):
            step(target)
    assert len(lanes) == 0
    assert dict(taken) == {k: v for k, v in added.items() if v}
