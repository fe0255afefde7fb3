"""chart: a balance as an SVG step line, in exact integer arithmetic."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.chart import Chart, step_chart

W, H = 600, 120


def points(c: Chart) -> list[tuple[int, int]]:
    out = []
    for p in c.points.split(" "):
        x, y = p.split(",")
        out.append((int(x), int(y)))
    return out


@st.composite
def series_and_now(draw: st.DrawFn) -> tuple[list[tuple[int, int]], int]:
    """A time-ordered series of (ms, balance) with balances of any size, and a later now."""
    times = sorted(draw(st.lists(st.integers(0, 10**13), min_size=1, max_size=20)))
    big = st.integers(-(2**256), 2**256)
    values = draw(st.lists(big, min_size=len(times), max_size=len(times)))
    now = times[-1] + draw(st.integers(0, 10**10))
    return list(zip(times, values, strict=True)), now


def test_empty_series() -> None:
    assert step_chart([], 1_000, W, H) is None


def test_a_simple_chart() -> None:
    c = step_chart([(0, 0), (50, 10), (100, 5)], 200, 200, 100)
    assert c == Chart("0,100 50,100 50,0 100,0 100,50 200,50", 0, 10, 0, 200)


def test_fields() -> None:
    c = step_chart([(1_000, 3), (2_000, 7)], 5_000, W, H)
    assert c is not None
    assert (c.low, c.high, c.start_ms, c.end_ms) == (0, 7, 1_000, 5_000)


def test_low_is_never_above_zero_and_negatives_go_below() -> None:
    c = step_chart([(0, -5), (10, 5)], 20, 100, 100)
    assert c is not None and (c.low, c.high) == (-5, 5)
    assert points(c) == [(0, 100), (50, 100), (50, 0), (100, 0)]


def test_now_before_the_last_change_ends_at_the_last_change() -> None:
    c = step_chart([(0, 1), (100, 2)], 50, 100, 10)
    assert c is not None and c.end_ms == 100
    assert points(c)[-1][0] == 100


def test_a_flat_zero_balance() -> None:
    c = step_chart([(0, 0), (10, 0)], 20, 100, 10)
    assert c is not None and (c.low, c.high) == (0, 0)
    assert {y for _, y in points(c)} == {10}


def test_one_point() -> None:
    c = step_chart([(1_000, 42)], 2_000, W, H)
    assert c is not None
    assert points(c) == [(0, 0), (W, 0)]


def test_one_point_at_now_stays_in_the_box() -> None:
    c = step_chart([(1_000, 42)], 1_000, W, H)
    assert c is not None
    assert all(0 <= x <= W and 0 <= y <= H for x, y in points(c))


@pytest.mark.parametrize("base", [10**30, 2**200, 10**60])
def test_values_beyond_float_precision(base: int) -> None:
    """A float sees base and base + 1 as one height; the integers do not."""
    assert float(base) == float(base + 1)
    series = [(0, base), (10, base + 1)]
    c = step_chart(series, 20, W, H)
    assert c is not None
    assert c.low == 0 and c.high == base + 1
    assert isinstance(c.high, int) and c.high - base == 1
    ys = [y for _, y in points(c)]
    # base is just under high: its height rounds down to H - 1, one pixel below the top
    assert ys == [1, 1, 0, 0]


def test_negative_values_beyond_float_precision() -> None:
    low = -(10**30) - 1
    c = step_chart([(0, low), (10, -(10**30)), (20, 10**30 + 7)], 30, W, H)
    assert c is not None
    assert c.low == low and c.high == 10**30 + 7
    assert c.low != -(10**30) and c.high - c.low == 2 * 10**30 + 8
    assert points(c)[0] == (0, H)


@settings(max_examples=200)
@given(series_and_now(), st.integers(1, 2000), st.integers(1, 1000))
def test_points_stay_in_the_box(case: tuple[list[tuple[int, int]], int], w: int, h: int) -> None:
    series, now = case
    c = step_chart(series, now, w, h)
    assert c is not None
    pts = points(c)
    assert len(pts) == 2 * len(series)
    assert all(0 <= x <= w and 0 <= y <= h for x, y in pts)
    assert pts[0][0] == 0
    if now > series[0][0]:
        assert pts[-1][0] == w
    xs = [x for x, _ in pts]
    assert xs == sorted(xs)


@settings(max_examples=200)
@given(series_and_now(), st.integers(1, 2000), st.integers(1, 1000))
def test_steps_go_across_then_up_or_down(
    case: tuple[list[tuple[int, int]], int], w: int, h: int
) -> None:
    series, now = case
    c = step_chart(series, now, w, h)
    assert c is not None
    pts = points(c)
    for i, (a, b) in enumerate(pairwise(pts)):
        if i % 2 == 0:
            assert a[1] == b[1], (i, a, b)  # horizontal: the balance holds
        else:
            assert a[0] == b[0], (i, a, b)  # vertical: it changes


@settings(max_examples=200)
@given(series_and_now(), st.integers(1, 2000), st.integers(1, 1000))
def test_exact_against_fractions(case: tuple[list[tuple[int, int]], int], w: int, h: int) -> None:
    series, now = case
    c = step_chart(series, now, w, h)
    assert c is not None
    values = [v for _, v in series]
    assert c.low == min(0, *values) and c.high == max(values)
    assert (c.start_ms, c.end_ms) == (series[0][0], now)
    span_t = max(1, now - series[0][0])
    span_v = max(1, c.high - c.low)

    def exact(t: int, v: int) -> tuple[int, int]:
        x = Fraction((t - series[0][0]) * w, span_t)
        y = h - math.floor(Fraction((v - c.low) * h, span_v))
        return math.floor(x), y

    want = [exact(series[0][0], values[0])]
    for (t, v), prev in zip(series[1:], values, strict=False):
        want += [exact(t, prev), exact(t, v)]
    want.append(exact(now, values[-1]))
    assert points(c) == want
