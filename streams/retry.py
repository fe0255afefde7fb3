"""Retry schedule of deliveries: a fixed interval up to a maximum age, or delays; and the
ladder of retry-topic tiers that serves any delay (pure)."""

from __future__ import annotations

from dataclasses import dataclass

# One retry topic per tier (deliveries.retry.<N>s). A job waiting d seconds sits on the
# largest tier <= d, then on the largest tier <= what is left, and so on: every message on a
# tier waits the same time, so each tier is FIFO and its agent only sleeps until its head.
TIERS_S: tuple[int, ...] = (1, 5, 30, 300, 3600)
# A job is attempted when it is due within this much (the clock's and the loop's slack).
DUE_SLACK_S = 0.05


def tier_topic_name(tier_s: int) -> str:
    """The (unprefixed) name of a tier's topic."""
    return f"deliveries.retry.{tier_s}s"


def route(remaining_s: float, tiers: tuple[int, ...] = TIERS_S) -> tuple[int, float]:
    """The tier to wait on for a job due in remaining_s, and how long to hold it there.

    The hold is the tier's delay, except below the smallest tier, where it is what is left
    (so a head can be held up by at most the smallest tier's delay).
    """
    remaining_s = max(0.0, remaining_s)
    fitting = [t for t in tiers if t <= remaining_s]
    if fitting:
        return fitting[-1], float(fitting[-1])
    return tiers[0], remaining_s


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again after a failed attempt, and when to give up."""

    interval_s: float = 300.0
    max_age_s: float = 86_400.0
    delays_s: tuple[float, ...] | None = None

    @classmethod
    def from_dict(cls, d: dict[str, object] | None, default: RetryPolicy) -> RetryPolicy:
        """A monitor's policy (the contract's retry object) over the settings' default."""
        if not d:
            return default
        delays = d.get("delays_s")
        if isinstance(delays, list):
            return cls(delays_s=tuple(float(x) for x in delays))
        interval = d.get("interval_s")
        max_age = d.get("max_age_s")
        return cls(
            interval_s=float(interval) if isinstance(interval, int | float) else default.interval_s,
            max_age_s=float(max_age) if isinstance(max_age, int | float) else default.max_age_s,
        )

    def next_delay(self, attempts: int, age_s: float) -> float | None:
        """Seconds until the next attempt after `attempts` failed ones, or None to give up.

        `age_s` is the time since the first attempt; a fixed-interval policy stops once the
        next attempt would fall after max_age_s.
        """
        if self.delays_s is not None:
            if attempts - 1 < len(self.delays_s):
                return self.delays_s[attempts - 1]
            return None
        if age_s + self.interval_s > self.max_age_s:
            return None
        return self.interval_s
