"""A retry tier: one FIFO topic of delivery jobs that wait the same time, worked in order."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from aiokafka import TopicPartition

from agents.deliverer import HOLD_SLICE_S, Deliverer
from core import metrics
from core.publish import Publisher
from faust_app import app
from faust_app.internals import in_consumer_thread
from faust_app.publisher import stop_unsent
from streams.deliveryjob import parse_jobs

logger = logging.getLogger(__name__)


class Tier:
    """One retry tier: FIFO, so it sleeps until its head is due and attempts what is due
    together.

    It takes its messages off the stream as they come, into its own queue: an agent that
    stopped reading (sleeping an hour on its head, or attempting 500 jobs for a hanging
    endpoint) would let its stream buffer fill, and a full buffer stops Faust's consumer for
    every stream of the worker. Past `limit` queued messages it pauses fetching from their
    partitions instead, and resumes at half. Offsets are acknowledged in order, after the
    effects of their jobs are on the broker.

    Faust waits for every message an agent holds before a rebalance or a shutdown goes on,
    so when either begins the tier puts everything it holds back on the tiers, acknowledged
    (attempts under way are cancelled, not counted)."""

    def __init__(
        self,
        d: Deliverer,
        stream: Any,
        batch: int,
        limit: int,
        publisher: Publisher,
        name: str = "",
    ) -> None:
        self.d = d
        self.depth = metrics.RETRY_QUEUED.labels(tier=name)
        self.publisher = publisher
        self.stream = stream
        self.batch = batch
        self.limit = limit
        self.queue: deque[Any] = deque()
        self._more = asyncio.Event()
        self._paused: set[TopicPartition] = set()

    async def put(self, event: Any) -> None:
        """Queue a message; pause fetching from its partition when the queue is long."""
        self.queue.append(event)
        self.depth.set(len(self.queue))
        self._more.set()
        if len(self.queue) >= self.limit:
            tp = TopicPartition(event.message.tp.topic, event.message.tp.partition)
            if tp not in self._paused and not _interrupted():
                self._paused.add(tp)
                logger.info("%d retries queued: fetching from %s paused", len(self.queue), tp)
                await in_consumer_thread(app, self._pause_fetching, {tp})

    def _pause_fetching(self, consumer: Any, tps: set[TopicPartition]) -> None:
        """Stop fetching from tps at the aiokafka consumer itself (in its thread); only
        those still assigned and still meant to be paused: if a rebalance made the tier let
        go before this ran, a pause landing on the new assignment would never be resumed.

        Not with Faust's `pause_partitions`: Faust then skips the records of those
        partitions it had already fetched, and when they are resumed it reads on after them,
        counts the skipped offsets as a gap and commits past it: the jobs in them would be
        lost (seen: 166 of 3,000). aiokafka drops only what it had not handed over yet, and
        fetches it again on resuming."""
        consumer.pause(*(tps & self._paused & consumer.assignment()))

    async def _maybe_resume(self) -> None:
        """Resume the paused partitions once the queue is down to half."""
        if not self._paused or len(self.queue) > self.limit // 2:
            return
        paused, self._paused = self._paused, set()
        if not _interrupted():  # a new assignment starts with every partition fetching
            await in_consumer_thread(app, _resume_fetching, paused)

    async def run(self) -> None:
        """Work through the queue, in order, for as long as the agent runs. A failure stops
        the worker before any commit (the tier's messages are read again after a restart)."""
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stop_unsent(exc, "a retry tier failed")

    async def _run(self) -> None:
        while True:
            if not self.queue:
                self._more.clear()
                await self._more.wait()
                continue
            events = [self.queue.popleft() for _ in range(min(self.batch, len(self.queue)))]
            self.depth.set(len(self.queue))
            await self._maybe_resume()
            await self._work(events)

    async def _work(self, events: list[Any]) -> None:
        jobs = parse_jobs([e.value for e in events])
        ready: list[dict[str, Any]] = []
        for i, job in enumerate(jobs):
            wait = float(job.get("hold_until") or 0) - time.time()
            if wait > 0:
                if ready:  # what is already due does not wait behind a later head
                    await self.publisher.publish(await self.d.due_attempts(ready, _interrupted))
                    ready = []
                if not await _hold(wait):
                    events += await self._let_go(jobs[i:])
                    break
            ready.append(job)
        else:
            if ready:
                await self.publisher.publish(await self.d.due_attempts(ready, _interrupted))
            if _interrupted() and self.queue:
                events += await self._let_go([])
        for event in events:  # in order: this batch, then what was queued behind it
            await self.stream.ack(event)

    async def _let_go(self, jobs: list[dict[str, Any]]) -> list[Any]:
        """Put jobs and everything queued back on the tiers; the queued messages, to be
        acknowledged after the batch before them."""
        queued = list(self.queue)
        self.queue.clear()
        self.depth.set(0)
        now = time.time()
        back = jobs + parse_jobs([e.value for e in queued])
        await self.publisher.publish([self.d.requeue(j, now) for j in back])
        await self._maybe_resume()
        return queued


def _resume_fetching(consumer: Any, tps: set[TopicPartition]) -> None:
    """Fetch again from tps (those still assigned; a rebalance resumes them all anyway)."""
    consumer.resume(*(tps & consumer.assignment()))


def _interrupted() -> bool:
    """Is the worker stopping, or are partitions being taken away?"""
    return bool(app.should_stop or app.rebalancing)


async def _hold(seconds: float) -> bool:
    """Sleep, a slice at a time; False as soon as the worker must let go of its messages."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if _interrupted():
            return False
        await asyncio.sleep(min(left, HOLD_SLICE_S))
    return not _interrupted()
