"""The worker's health: readiness (`/readyz`), the recovery stall watch, group membership
remembered for a fast restart, and the gauges only a look at the consumer can give (lag and
partitions per topic, chains followed).

It runs from the worker's start, before Faust's first recovery, since that recovery is what
it watches; Faust's own timers start only after it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from agents import follower
from core import metrics
from faust_app import app, settings
from faust_app.internals import (
    consumer_positions,
    member_id,
    recovery_progress,
    restart_recovery,
)
from streams.partition import key_partition
from streams.readiness import FollowedChain, Observed, Readiness, StallWatch, readiness, stale_after
from transport.groupmember import member_file, save_member
from views.topicfold import TopicFold

logger = logging.getLogger(__name__)

TICK_S = 0.5


class Health:
    """Readiness over the views requests need, and the loop that keeps the gauges and the
    stall watch current."""

    def __init__(self, views: Mapping[str, TopicFold]) -> None:
        self.views = dict(views)
        self.started = False  # Faust finished its first start (tables recovered once)
        self.watch = StallWatch(settings.recovery_stall_s)
        self._task: asyncio.Task[None] | None = None
        self._follower_topic = settings.topic("follower")
        self._stale = {
            c.name: stale_after(c.poll_interval_s, c.rpc_timeout_s) for c in settings.chains
        }
        self._saved_member: str | None = None
        self._topics: set[str] = set()  # every topic a gauge was set for (kept at 0 after)

    def followed(self, assigned: set[tuple[str, int]]) -> dict[str, FollowedChain]:
        """The chains whose follower partition this worker holds."""
        out: dict[str, FollowedChain] = {}
        for c in settings.chains:
            p = key_partition(c.name.encode(), settings.partitions)
            if (self._follower_topic, p) in assigned:
                out[c.name] = FollowedChain(
                    follower.last_ok.get(c.name),
                    follower.node_heads.get(c.name),
                    follower.published_block.get(c.name),
                    self._stale[c.name],
                )
        return out

    def observe(self) -> Observed:
        try:
            assigned = {(tp.topic, tp.partition) for tp in app.consumer.assignment()}
        except Exception:
            assigned = set()
        in_recovery, remaining = recovery_progress(app)
        return Observed(
            now=time.monotonic(),
            started=self.started,
            assigned=bool(assigned),
            rebalancing=bool(app.rebalancing),
            in_recovery=in_recovery,
            recovery_remaining=remaining,
            stalled=self.watch.stalled,
            views={name: v.caught_up.is_set() for name, v in self.views.items()},
            followed=self.followed(assigned) if self.started else {},
        )

    def readiness(self) -> Readiness:
        return readiness(self.observe())

    def serving(self) -> bool:
        """Whether the API may answer requests (tables recovered once, views caught up);
        before that it answers 503 `not_ready`. Later rebalances do not stop it."""
        return self.started and all(v.caught_up.is_set() for v in self.views.values())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # the watch must never stop the worker
                logger.exception("health check failed")
            await asyncio.sleep(TICK_S)

    def tick(self) -> None:
        """One round: stall watch, membership, gauges."""
        in_recovery, remaining = recovery_progress(app)
        if self.watch.observe(time.monotonic(), in_recovery, remaining):
            logger.warning(
                "table recovery made no progress for %gs (%d changelog records left); "
                "starting it again",
                settings.recovery_stall_s,
                remaining,
            )
            metrics.RECOVERY_STALLS.inc()
            restart_recovery(app)
        self._save_member()
        self._gauges(self.readiness())

    def _save_member(self) -> None:
        """Remember the member id the consumer joined with (transport/groupmember.py)."""
        mid = member_id(app)
        if mid and mid != self._saved_member:
            try:
                save_member(member_file(settings), settings.app_id, mid)
                self._saved_member = mid
            except OSError as exc:
                logger.warning("cannot write %s: %s", member_file(settings), exc)

    def _gauges(self, r: Readiness) -> None:
        lag: dict[str, int] = {}
        count: dict[str, int] = {}
        for topic, _p, hw, read in consumer_positions(app):
            count[topic] = count.get(topic, 0) + 1
            if hw is not None and read is not None:
                lag[topic] = lag.get(topic, 0) + max(0, hw - read - 1)
        self._topics.update(count)
        for topic in self._topics:
            metrics.ASSIGNED.labels(topic=topic).set(count.get(topic, 0))
            metrics.CONSUMER_LAG.labels(topic=topic).set(lag.get(topic, 0))
        metrics.READY.set(1 if r.ready else 0)
        for c in settings.chains:
            metrics.FOLLOWS.labels(chain=c.name).set(1 if c.name in r.chains else 0)
