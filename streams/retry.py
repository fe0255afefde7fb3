"""Retry schedule of webhook deliveries: a fixed interval up to a maximum age, or delays."""

from __future__ import annotations

from dataclasses import dataclass


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
