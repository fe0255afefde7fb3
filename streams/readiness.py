"""Whether a worker is ready, and whether its table recovery has stalled: pure decisions over
what the worker observed (agents/health.py gathers it and applies what these return).

Ready means: the worker has finished its first start (tables recovered), holds partitions,
is not in a rebalance or a recovery, the views that requests are checked and answered from
have caught up, and every chain it follows has a fresh head (the node answered a poll
recently). Each failed check is a reason, so `/readyz` can say why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FollowedChain:
    """A chain this worker follows: when its node last answered a poll (monotonic seconds,
    None if never), the head it reported and the last block published."""

    last_ok_at: float | None
    node_head: int | None
    block: int | None
    stale_after_s: float


@dataclass(frozen=True)
class Observed:
    """What the worker saw at `now` (monotonic seconds)."""

    now: float
    started: bool
    assigned: bool
    rebalancing: bool
    in_recovery: bool
    recovery_remaining: int
    stalled: bool
    views: Mapping[str, bool]
    followed: Mapping[str, FollowedChain] = field(default_factory=dict)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reasons: list[str]
    chains: dict[str, dict[str, Any]]
    # Each check on its own: recovered, assigned, views, chains (fresh heads).
    checks: dict[str, bool]

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not_ready",
            "ready": self.ready,
            "checks": self.checks,
            "reasons": self.reasons,
            "chains": self.chains,
        }


def readiness(o: Observed) -> Readiness:
    """Ready, or the reasons it is not."""
    reasons: list[str] = []
    if not o.started:
        reasons.append("starting: tables not recovered yet")
    if o.in_recovery:
        what = "stalled, started again" if o.stalled else "under way"
        reasons.append(f"recovery {what}: {o.recovery_remaining} changelog records left")
    elif o.rebalancing:
        reasons.append("rebalancing")
    if o.started and not o.assigned:
        reasons.append("no partitions assigned")
    behind = sorted(name for name, ok in o.views.items() if not ok)
    if behind:
        reasons.append("views catching up: " + ", ".join(behind))
    chains: dict[str, dict[str, Any]] = {}
    for name, c in sorted(o.followed.items()):
        age = None if c.last_ok_at is None else round(o.now - c.last_ok_at, 3)
        fresh = age is not None and age <= c.stale_after_s
        lag = None if c.node_head is None or c.block is None else max(0, c.node_head - c.block)
        chains[name] = {
            "followed_here": True,
            "head_age_s": age,
            "node_head": c.node_head,
            "block": c.block,
            "lag_blocks": lag,
            "fresh": fresh,
        }
        if not fresh:
            reasons.append(
                f"chain {name}: no answer from its node for "
                + ("ever" if age is None else f"{age:g}s")
                + f" (limit {c.stale_after_s:g}s)"
            )
    checks = {
        "recovered": o.started and not o.in_recovery and not o.rebalancing,
        "assigned": o.started and o.assigned,
        "views": not behind,
        "chains": all(c["fresh"] for c in chains.values()),
    }
    return Readiness(not reasons, reasons, chains, checks)


def stale_after(poll_interval_s: float, rpc_timeout_s: float) -> float:
    """How long a followed chain may go without an answer from its node before the worker
    stops calling itself ready: a few polls with their time-outs, at least 15 s."""
    return max(15.0, 3 * (poll_interval_s + rpc_timeout_s))


class StallWatch:
    """Notices a recovery that makes no progress: `observe` returns True once per
    `stall_s` of recovery in which the records left did not go down."""

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self._since: float | None = None
        self._best: int | None = None
        self.stalls = 0
        # The recovery under way stalled and has not progressed since.
        self.stalled = False

    def observe(self, now: float, in_recovery: bool, remaining: int) -> bool:
        if not in_recovery:
            self._since = self._best = None
            self.stalled = False
            return False
        if self._since is None or self._best is None or remaining < self._best:
            if self._best is not None and remaining < self._best:
                self.stalled = False
            self._since, self._best = now, remaining
            return False
        if now - self._since >= self.stall_s:
            self._since = now  # the next window starts with the retry
            self.stalls += 1
            self.stalled = True
            return True
        return False
