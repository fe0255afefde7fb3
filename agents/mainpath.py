"""The main delivery path: first attempts, many at once, acknowledged in order."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from agents.deliverer import Deliverer, target_of
from core.publish import Message, Publisher
from faust_app.publisher import stop_unsent
from streams.deliveryjob import parse_jobs
from streams.inorder import InOrder, Ticket
from streams.lanes import Lanes

logger = logging.getLogger(__name__)

FLUSH_EVERY_S = 0.05  # outcomes of the main path gathered into one publish


class MainPath:
    """First attempts, many at once, for one agent's stream (no batch waits for its slowest
    member). Jobs wait in one lane per endpoint, worked by at most `delivery.per_host`
    runners (streams/lanes.py); the deliveries of one transfer to one monitor go one after
    the other, in the order they came (seen before confirmed). A message may carry many
    deliveries; its offset is acknowledged once the outcome of each (log record, retry or
    dead letter) is on the broker and every earlier offset of its partition is too."""

    def __init__(self, d: Deliverer, stream: Any, window: int, publisher: Publisher) -> None:
        self.d = d
        self.publisher = publisher
        self.stream = stream
        self.window = window
        self._resume_at = window * 3 // 4  # a full window lets submit go on from here
        self._order: InOrder[Any] = InOrder()
        self._lanes: Lanes[tuple[dict[str, Any], Ticket[Any]]] = Lanes(d.s.delivery.per_host)
        self._busy = 0  # deliveries started and not yet attempted
        self._room = asyncio.Event()
        self._tasks: set[asyncio.Future[None]] = set()  # the loop keeps only weak refs
        self._done: list[tuple[list[Message], Ticket[Any]]] = []
        self._flusher: asyncio.Future[None] | None = None

    async def submit(self, event: Any) -> None:
        """Start the deliveries of one message; wait while `window` are unfinished."""
        jobs = parse_jobs([event.value])
        ticket = self._order.add(event, event.message.tp, parts=len(jobs))
        if not jobs:
            self._finished([], ticket)
            return
        for job in jobs:
            while self._busy >= self.window or len(self._order) > self.window:
                self._room.clear()
                await self._room.wait()
            self._busy += 1
            target = target_of(job)
            key = (str(job["monitor_id"]), str(job["event"].get("tx_hash")))
            if self._lanes.add(target, key, (job, ticket)):
                self._run(target)

    def _run(self, target: str) -> None:
        task = asyncio.ensure_future(self._runner(target))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _runner(self, target: str) -> None:
        """Attempt the lane's jobs one after the other until it is empty."""
        while (taken := self._lanes.take(target)) is not None:
            key, (job, ticket) = taken
            try:
                out = await self.d.first_attempt(job)
            except Exception as exc:  # a bug, not a failed attempt: retry it, not lose it
                logger.error("delivery %s: attempt raised %r; to the retry path", job["id"], exc)
                now = time.time()
                job["next_attempt_at"] = now
                out = [self.d.requeue(job, now)]
            self._busy -= 1
            if self._busy <= self._resume_at:
                self._room.set()
            released = self._lanes.done(key)
            if released is not None and released[1]:
                self._run(released[0])
            self._finished(out, ticket)

    def _finished(self, out: list[Message], ticket: Ticket[Any]) -> None:
        """Outcomes are published together, FLUSH_EVERY_S worth at a time: one produce
        request for many deliveries, not one each (the webhooks went out already; only
        the commit waits)."""
        self._done.append((out, ticket))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        while self._done:
            await asyncio.sleep(FLUSH_EVERY_S)
            batch, self._done = self._done, []
            try:
                await self.publisher.publish([m for out, _ in batch for m in out])
            except Exception as exc:  # the outcomes are not on the broker: ack nothing
                stop_unsent(exc)
            for _, ticket in batch:
                for event in self._order.finish(ticket):
                    await self.stream.ack(event)
            self._room.set()
