"""A step chart of a balance over time as SVG coordinates, in integer arithmetic (balances
are integers of base units; no float touches them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Chart:
    points: str  # the polyline's "x,y x,y ..." in a width by height box
    low: int
    high: int
    start_ms: int
    end_ms: int


def step_chart(
    series: Sequence[tuple[int, int]], now_ms: int, width: int, height: int
) -> Chart | None:
    """The balance as steps (it holds until it changes) from its first change to now;
    None with no points."""
    if not series:
        return None
    t0, t1 = series[0][0], max(now_ms, series[-1][0])
    values = [v for _, v in series]
    low, high = min(0, *values), max(values)
    span_t, span_v = max(1, t1 - t0), max(1, high - low)

    def xy(t: int, v: int) -> str:
        return f"{(t - t0) * width // span_t},{height - (v - low) * height // span_v}"

    out = []
    prev: int | None = None
    for t, v in series:
        if prev is not None:
            out.append(xy(t, prev))
        out.append(xy(t, v))
        prev = v
    out.append(xy(t1, values[-1]))
    return Chart(" ".join(out), low, high, t0, t1)
