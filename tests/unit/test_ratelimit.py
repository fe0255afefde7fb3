"""ratelimit: a token bucket per key, with a Retry-After that is never 0 when refusing."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from streams.ratelimit import RateLimiter

T0 = 1_700_000_000.0


def test_burst_then_refusal() -> None:
    rl = RateLimiter(rate_per_s=1.0, burst=5)
    assert [rl.take("k", T0) for _ in range(5)] == [0] * 5
    retry = rl.take("k", T0)
    assert retry >= 1
    assert retry == 1
    assert rl.take("k", T0) >= 1


def test_retry_after_is_at_least_one_for_fast_rates() -> None:
    rl = RateLimiter(rate_per_s=1000.0, burst=1)
    assert rl.take("k", T0) == 0
    assert rl.take("k", T0) == 1


def test_retry_after_for_slow_rates() -> None:
    rl = RateLimiter(rate_per_s=0.25, burst=1)
    assert rl.take("k", T0) == 0
    assert rl.take("k", T0) == 4
    assert rl.take("k", T0 + 2) == 2  # half a token back: two more seconds
    assert rl.take("k", T0 + 4) == 0


def test_retry_after_is_enough() -> None:
    rl = RateLimiter(rate_per_s=0.5, burst=2)
    rl.take("k", T0)
    rl.take("k", T0)
    retry = rl.take("k", T0)
    assert retry == 2
    assert rl.take("k", T0 + retry - 1) > 0
    assert rl.take("k", T0 + retry) == 0


def test_refill_over_time() -> None:
    rl = RateLimiter(rate_per_s=2.0, burst=4)
    for _ in range(4):
        assert rl.take("k", T0) == 0
    assert rl.take("k", T0) > 0
    assert rl.take("k", T0 + 0.5) == 0  # one token after half a second
    assert rl.take("k", T0 + 0.5) > 0
    assert rl.take("k", T0 + 1.5) == 0
    assert rl.take("k", T0 + 1.5) == 0
    assert rl.take("k", T0 + 1.5) > 0


def test_refill_is_capped_at_burst() -> None:
    rl = RateLimiter(rate_per_s=10.0, burst=3)
    rl.take("k", T0)
    later = T0 + 3600
    assert [rl.take("k", later) for _ in range(3)] == [0, 0, 0]
    assert rl.take("k", later) > 0


def test_clock_going_back_adds_nothing() -> None:
    rl = RateLimiter(rate_per_s=1.0, burst=1)
    assert rl.take("k", T0) == 0
    assert rl.take("k", T0 - 100) > 0
    assert rl.take("k", T0 - 99) == 0


def test_per_key_independence() -> None:
    rl = RateLimiter(rate_per_s=1.0, burst=2)
    assert rl.take("a", T0) == 0
    assert rl.take("a", T0) == 0
    assert rl.take("a", T0) > 0
    assert rl.take("b", T0) == 0
    assert rl.take("b", T0) == 0
    assert rl.take("b", T0) > 0
    assert rl.take("c", T0) == 0


def test_bounded_key_count() -> None:
    rl = RateLimiter(rate_per_s=1.0, burst=1, max_keys=10)
    for i in range(1000):
        rl.take(f"k{i}", T0)
        assert len(rl._buckets) <= 10


def test_reset_only_ever_lets_more_in() -> None:
    rl = RateLimiter(rate_per_s=1.0, burst=1, max_keys=2)
    assert rl.take("a", T0) == 0
    assert rl.take("a", T0) > 0
    rl.take("b", T0)
    rl.take("c", T0)  # the table is full: it starts over
    assert rl.take("a", T0) == 0


@given(
    rate=st.sampled_from([0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 10.0, 50.0]),
    burst=st.integers(min_value=1, max_value=20),
    steps=st.lists(st.integers(min_value=0, max_value=3000), max_size=60),
)
def test_never_more_than_burst_plus_refill(rate: float, burst: int, steps: list[int]) -> None:
    """Over any run, what is let in is at most the burst plus what the rate refilled."""
    rl = RateLimiter(rate_per_s=rate, burst=burst)
    now = T0
    granted = 0
    for step in steps:
        now += step / 1000
        retry = rl.take("k", now)
        assert retry >= 0
        if retry == 0:
            granted += 1
        assert granted <= burst + (now - T0) * rate + 1e-6


@given(
    rate=st.sampled_from([0.1, 0.2, 0.25, 0.3, 0.5, 0.7, 1.0, 1.5, 3.0, 7.0, 50.0]),
    burst=st.integers(min_value=1, max_value=5),
    wait_ms=st.integers(min_value=0, max_value=20_000),
)
def test_waiting_retry_after_is_enough(rate: float, burst: int, wait_ms: int) -> None:
    rl = RateLimiter(rate_per_s=rate, burst=burst)
    for _ in range(burst):
        assert rl.take("k", T0) == 0
    now = T0 + wait_ms / 1000
    retry = rl.take("k", now)
    if retry:
        assert retry >= 1
        assert retry <= math.ceil(1 / rate)
        assert rl.take("k", now + retry) == 0
