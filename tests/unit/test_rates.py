"""rates: events per minute in one-second buckets, and blocks and transfers per minute from
the followers' heads records."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.rates import (
    HEADS_EVERY_S,
    HeadsBeat,
    HeadsSample,
    RateWindow,
    block_transfers,
    chain_rates,
)

T0 = 1_790_000_000.0


def brute(stamps: list[tuple[float, int]], now: float) -> int:
    """Events whose second is one of the 60 that end with now's second."""
    t = math.floor(now)
    return sum(n for ts, n in stamps if t - 60 < math.floor(ts) <= t)


# RateWindow


def test_counts_the_last_sixty_seconds_only() -> None:
    w = RateWindow()
    for i in range(120):
        w.add(T0 + i + 0.5)
    assert w.per_minute(T0 + 119.9) == 60
    assert w.per_minute(T0 + 59) == 60  # seconds 0..59
    assert w.per_minute(T0 + 30) == 31
    assert w.per_minute(T0 + 500) == 0  # nothing for minutes
    assert RateWindow().per_minute(T0) == 0


def test_counts_several_at_once_and_in_any_order() -> None:
    w = RateWindow()
    w.add(T0 + 10, 3)
    w.add(T0 + 5)  # earlier, after a later one (another partition)
    w.add_second(int(T0) + 10, 2)
    assert w.per_minute(T0 + 10) == 6
    assert w.per_minute(T0 + 64.9) == 6
    assert w.per_minute(T0 + 65) == 5  # second 5 has left the minute


def test_events_two_minutes_older_than_the_bucket_holder_are_dropped() -> None:
    w = RateWindow()
    w.add(T0 + 200)
    w.add(T0 + 80)  # the same bucket, 120 s older: outside any minute asked of now
    assert w.per_minute(T0 + 200) == 1
    assert w.per_minute(T0 + 80) == 0


def test_a_future_event_within_a_minute_does_not_disturb_the_minute_asked() -> None:
    w = RateWindow()
    for i in range(60):
        w.add(T0 + i)
    w.add(T0 + 118)  # a skewed producer clock, a minute ahead
    assert w.per_minute(T0 + 59) == 60
    assert w.per_minute(T0 + 118) == 1 + 1  # second 59 and the early one


@given(
    st.integers(min_value=0, max_value=400),
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=460, allow_nan=False), st.integers(1, 5)),
        max_size=300,
    ),
    st.floats(min_value=0, max_value=0.999),
)
def test_per_minute_equals_a_brute_force_count(
    base: int, stamps: list[tuple[float, int]], frac: float
) -> None:
    now = T0 + base + frac
    # timestamps at most a minute after now's second, in any order, any repetition
    kept = [(T0 + ts, n) for ts, n in stamps if math.floor(T0 + ts) <= math.floor(now) + 60]
    w = RateWindow()
    for ts, n in kept:
        w.add(ts, n)
    assert w.per_minute(now) == brute(kept, now)


@given(st.lists(st.integers(min_value=0, max_value=10**13), max_size=100))
def test_add_second_of_milliseconds_is_add_of_seconds(ms: list[int]) -> None:
    a, b = RateWindow(), RateWindow()
    for m in ms:
        a.add_second(m // 1000)
        b.add(m / 1000)
    now = max(ms, default=0) / 1000
    assert a.per_minute(now) == b.per_minute(now)


# chain_rates


def samples(*rows: tuple[float, int, int]) -> list[HeadsSample]:
    return [HeadsSample(T0 + at, b, t) for at, b, t in rows]


def rates(s: list[HeadsSample], now: float, window_s: float = 60) -> tuple[float, float]:
    return chain_rates(s, T0 + now, window_s)


def test_steady_rates_per_minute() -> None:
    s = [HeadsSample(T0 + i, 10 + i, 100 + 5 * i) for i in range(120)]  # a block a second
    blocks, transfers = chain_rates(s, T0 + 119.5)
    assert (blocks, transfers) == pytest.approx((60.0, 300.0))
    assert chain_rates(deque(s), T0 + 119.5) == (blocks, transfers)


def test_the_base_is_the_newest_sample_at_or_before_the_window_start() -> None:
    s = samples((0, 0, 0), (30, 10, 10), (70, 50, 90), (100, 80, 120))
    # window starts at 40: base is the sample at 30 (the newest at or before 40)
    assert rates(s, 100) == pytest.approx((60.0, 110 * 60 / 70))
    # a window that starts before every sample takes the oldest
    assert rates(s, 100, 1000) == pytest.approx((48.0, 72.0))


def test_a_counter_that_goes_down_starts_the_count_over() -> None:
    s = samples((0, 500, 900), (10, 510, 950), (20, 2, 3), (30, 12, 23))
    assert rates(s, 30) == pytest.approx((60.0, 120.0))  # from the sample at 20 on
    only_one = samples((0, 500, 900), (10, 510, 950), (20, 2, 3))
    assert rates(only_one, 20) == (0.0, 0.0)
    transfers_down = samples((0, 5, 900), (10, 15, 10), (20, 25, 20))
    assert rates(transfers_down, 20) == pytest.approx((60.0, 60.0))


def test_nothing_heard_for_a_window_or_a_single_sample_gives_zero() -> None:
    s = samples((0, 0, 0), (10, 10, 10))
    assert rates(s, 71) == (0.0, 0.0)
    assert rates(s, 69) == pytest.approx((60.0, 60.0))
    assert chain_rates([], T0) == (0.0, 0.0)
    assert rates(samples((5, 9, 9)), 5) == (0.0, 0.0)
    assert rates(samples((5, 9, 9), (5, 10, 10)), 5) == (0.0, 0.0)  # no time passed


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0, max_value=600, allow_nan=False),
            st.integers(0, 10**6),
            st.integers(0, 10**6),
        ),
        max_size=50,
    ),
    st.floats(min_value=0, max_value=700, allow_nan=False),
)
def test_rates_are_never_negative(rows: list[tuple[float, int, int]], now: float) -> None:
    blocks, transfers = chain_rates(samples(*rows), T0 + now)
    assert blocks >= 0 and transfers >= 0


# HeadsBeat and the transfers of a block


def test_heads_beat_counts_and_says_so_at_most_once_a_second() -> None:
    beat = HeadsBeat("local")
    assert beat.due(T0)
    beat.count(3, 7)
    rec = beat.record(42, 45, T0)
    assert rec == {
        "chain": "local",
        "block": 42,
        "node_head": 45,
        "blocks_total": 3,
        "transfers_total": 7,
        "at": T0,
    }
    assert not beat.due(T0 + HEADS_EVERY_S / 2)
    assert beat.due(T0 + HEADS_EVERY_S)
    assert beat.due(T0 - 5)  # a clock that went back must not silence it
    beat.count(1, 0)
    assert beat.record(43, None, T0 + 1)["blocks_total"] == 4


def test_block_transfers_counts_value_transactions_and_transfer_logs() -> None:
    block: Any = {"transactions": [{}, {}], "logs": [{}, {}, {}]}
    empty: Any = {"transactions": [], "logs": []}
    assert block_transfers(block) == 5
    assert block_transfers(empty) == 0
