"""Delivery agents. The main agent attempts each delivery as it comes (many at once,
bounded overall and per endpoint) and never waits long: an attempt that has no answer within
`delivery.fast_timeout_s` is handed to the retry path and its endpoint is kept off the main
path while it stays slow. Failures wait on the retry tiers (one FIFO topic per delay,
streams/retry.py), whose agents sleep only until their head is due, attempt what is due, and
re-queue or dead-letter; they let go of what they hold when a rebalance or a shutdown begins.
Every attempt is written to the delivery log topic. An offset is acknowledged only after the
effects of its message are on the broker (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiokafka import TopicPartition

from core import metrics
from core.settings import Settings
from faust_app import app, settings
from faust_app.publisher import send_all, stop_unsent
from faust_app.topics import (
    deliveries_topic,
    delivery_log_topic,
    dlq_topic,
    retry_tier_topics,
    retry_topic,
)
from streams.deliveryjob import dead_letter, log_record, parse_jobs, signing_secrets
from streams.inorder import InOrder, Ticket
from streams.lanes import Lanes
from streams.retry import DUE_SLACK_S, RetryPolicy, route
from transport.handlers import handler_refusal, run_command, run_python
from transport.webhooks import Attempt, WebhookSender

logger = logging.getLogger(__name__)

Out = tuple[Any, bytes, bytes]  # (topic, key, value)
SLOW_HOST_TTL_S = 600.0  # after this a slow host gets one more try on the main path
# Unfinished main-path deliveries per slot of `delivery.concurrency`: enough queued work
# to keep every slot busy while an endpoint holds a few of them until the fast timeout.
WINDOW_PER_SLOT = 16
FLUSH_EVERY_S = 0.05  # outcomes of the main path gathered into one publish
HOLD_SLICE_S = 0.25  # a retry tier checks this often whether it must let go of its jobs


def policy_default(s: Settings) -> RetryPolicy:
    """The settings' retry policy."""
    return RetryPolicy(
        interval_s=s.retry.interval_s,
        max_age_s=s.retry.max_age_s,
        delays_s=tuple(s.retry.delays_s) if s.retry.delays_s else None,
    )


def target_of(job: dict[str, Any]) -> str:
    """What concurrency limits and the slow list count by: the endpoint (URL without its
    query), so a hanging path does not hold up another path on the same host."""
    if job.get("kind", "webhook") == "webhook":
        return _endpoint(str(job.get("url", "")))
    return str(job.get("url", ""))


@functools.lru_cache(maxsize=10_000)
def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"


class Deliverer:
    """Attempts, their bounds, and what follows each one (I/O through the given sender)."""

    def __init__(self, s: Settings, sender: WebhookSender) -> None:
        self.s = s
        self.sender = sender
        self.default_policy = policy_default(s)
        self._sem = asyncio.Semaphore(s.delivery.concurrency)
        self._host_sems: dict[str, asyncio.Semaphore] = {}
        self.slow: dict[str, float] = {}  # target → when it was last seen slow (monotonic)

    def is_slow(self, target: str) -> bool:
        since = self.slow.get(target)
        if since is None:
            return False
        if time.monotonic() - since > SLOW_HOST_TTL_S:
            del self.slow[target]
            return False
        return True

    async def attempt(self, job: dict[str, Any], timeout_s: float | None = None) -> Attempt:
        """One attempt (a webhook's with timeout_s if given, else the full one); never
        raises."""
        kind = job.get("kind", "webhook")
        event = job["event"]
        d = self.s.delivery
        if kind == "webhook":
            body = orjson.dumps(event)
            secrets = signing_secrets(job, time.time())
            return await self.sender.send(job["url"], secrets, event["id"], body, timeout_s)
        handler = job.get("handler") or {}
        why = handler_refusal(handler, d.python_handlers, d.command_handlers)
        if why is not None:
            return Attempt(time.time(), None, 0, f"refused: {why}", None, succeeded=False)
        if kind == "python":
            return await run_python(str(handler["target"]), event, self.s.retry.timeout_s)
        timeout = float(handler.get("timeout_s") or d.command_timeout_s)
        return await run_command([str(a) for a in handler["argv"]], event, timeout)

    async def _bounded(self, job: dict[str, Any]) -> Attempt:
        async with self._host_sem(target_of(job)), self._sem:
            return await self.attempt(job)

    def outcome(self, job: dict[str, Any], result: Attempt, now: float) -> list[Out]:
        """Record the attempt in the job; then delivered, re-queued, or dead-lettered."""
        job["attempts"] = [*job.get("attempts", []), result.as_json()]
        job["first_at"] = job.get("first_at") or result.at
        if result.ok:
            metrics.inc("blockhook_deliveries_total", help="deliveries", outcome="delivered")
            return [self._log(job, "delivered", now)]
        metrics.inc("blockhook_deliveries_total", help="deliveries", outcome="failed_attempt")
        policy = RetryPolicy.from_dict(job.get("retry"), self.default_policy)
        delay = policy.next_delay(len(job["attempts"]), now - float(job["first_at"]))
        if delay is None:
            metrics.inc("blockhook_deliveries_total", help="deliveries", outcome="dead_letter")
            logger.warning("delivery %s failed after %d attempts", job["id"], len(job["attempts"]))
            job["next_attempt_at"] = None
            dlq = (dlq_topic, job["event"]["id"].encode(), orjson.dumps(dead_letter(job)))
            return [dlq, self._log(job, "failed", now)]
        job["next_attempt_at"] = now + delay
        logger.info("delivery %s failed (%s); retry in %gs", job["id"], result.error, delay)
        return [self.requeue(job, now), self._log(job, "pending", now)]

    def requeue(self, job: dict[str, Any], now: float) -> Out:
        """The job onto the retry tier that serves what is left of its wait."""
        tier, hold = route(float(job.get("next_attempt_at") or now) - now)
        job["hold_until"] = now + hold
        return (retry_tier_topics[tier], job["monitor_id"].encode(), orjson.dumps(job))

    @staticmethod
    def _log(job: dict[str, Any], status: str, now: float) -> Out:
        rec = log_record(job, status, now)
        return (delivery_log_topic, job["id"].encode(), orjson.dumps(rec))

    async def first_attempt(self, job: dict[str, Any]) -> list[Out]:
        """The main path for one job: an attempt that may take `fast_timeout_s`; what is
        slower (or bound for a host known to be slow) goes on to the retry path at once.

        The endpoint's own bound is taken before the overall one, so jobs queued for a
        hanging endpoint never hold a slot another endpoint could use."""
        target = target_of(job)
        if not self.is_slow(target):
            async with self._host_sem(target):
                if not self.is_slow(target):
                    async with self._sem:
                        result = await self._fast(job, target)
                    if result is not None:
                        return self.outcome(job, result, time.time())
        now = time.time()
        job["next_attempt_at"] = now  # due at once, on the retry path
        metrics.inc("blockhook_deliveries_handed_off_total", help="to the retry path")
        return [self.requeue(job, now)]

    async def _fast(self, job: dict[str, Any], target: str) -> Attempt | None:
        """An attempt bounded by the fast timeout; None (and the target marked slow) if it
        ran that long."""
        fast = self.s.delivery.fast_timeout_s
        if job.get("kind", "webhook") == "webhook":  # the HTTP client's own timeout
            result = await self.attempt(job, fast)
            if result.status_code is not None or result.latency_ms < fast * 900:
                return result
        else:
            try:
                return await asyncio.wait_for(self.attempt(job), fast)
            except TimeoutError:
                pass
        if target not in self.slow:
            logger.warning("%s is slow: off the main path for now", target)
        self.slow[target] = time.monotonic()
        return None

    def _host_sem(self, target: str) -> asyncio.Semaphore:
        sem = self._host_sems.get(target)
        if sem is None:
            sem = self._host_sems[target] = asyncio.Semaphore(self.s.delivery.per_host)
        return sem

    async def due_attempts(
        self, jobs: list[dict[str, Any]], interrupted: Callable[[], bool] = lambda: False
    ) -> list[Out]:
        """The retry path: attempt what is due (full timeout), re-queue what is not yet.

        Many due jobs for one hanging endpoint take minutes (its bound lets 16 through per
        timeout), and Faust holds up a rebalance or a shutdown until they end: so when
        `interrupted()` turns true, the attempts still waiting or running are cancelled and
        their jobs go back on the tiers unchanged (a cancelled attempt does not count)."""
        now = time.time()
        out: list[Out] = []
        due: list[dict[str, Any]] = []
        for job in jobs:
            if float(job.get("next_attempt_at") or 0) - now > DUE_SLACK_S:
                out.append(self.requeue(job, now))
            else:
                due.append(job)
        if interrupted():
            return out + [self.requeue(job, now) for job in due]
        tasks = [asyncio.ensure_future(self._bounded(j)) for j in due]
        pending: set[asyncio.Future[Attempt]] = set(tasks)
        while pending:
            _, pending = await asyncio.wait(pending, timeout=HOLD_SLICE_S)
            if pending and interrupted():
                for t in pending:
                    t.cancel()
                await asyncio.wait(pending)
                break
        now = time.time()
        for job, task in zip(due, tasks, strict=True):
            if task.cancelled():
                out.append(self.requeue(job, now))
                continue
            result = task.result()
            target = target_of(job)
            if result.latency_ms >= self.s.delivery.fast_timeout_s * 1000:
                self.slow[target] = time.monotonic()
            elif result.ok:
                self.slow.pop(target, None)
            out += self.outcome(job, result, now)
        return out


class MainPath:
    """First attempts, many at once, for one agent's stream (no batch waits for its slowest
    member). Jobs wait in one lane per endpoint, worked by at most `delivery.per_host`
    runners (streams/lanes.py); the deliveries of one transfer to one monitor go one after
    the other, in the order they came (seen before confirmed). A message may carry many
    deliveries; its offset is acknowledged once the outcome of each (log record, retry or
    dead letter) is on the broker and every earlier offset of its partition is too."""

    def __init__(self, d: Deliverer, stream: Any, window: int) -> None:
        self.d = d
        self.stream = stream
        self.window = window
        self._resume_at = window * 3 // 4  # a full window lets submit go on from here
        self._order: InOrder[Any] = InOrder()
        self._lanes: Lanes[tuple[dict[str, Any], Ticket[Any]]] = Lanes(d.s.delivery.per_host)
        self._busy = 0  # deliveries started and not yet attempted
        self._room = asyncio.Event()
        self._tasks: set[asyncio.Future[None]] = set()  # the loop keeps only weak refs
        self._done: list[tuple[list[Out], Ticket[Any]]] = []
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

    def _finished(self, out: list[Out], ticket: Ticket[Any]) -> None:
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
                await send_all([m for out, _ in batch for m in out])
            except Exception as exc:  # the outcomes are not on the broker: ack nothing
                stop_unsent(exc)
            for _, ticket in batch:
                for event in self._order.finish(ticket):
                    await self.stream.ack(event)
            self._room.set()


_deliverer: Deliverer | None = None


def deliverer() -> Deliverer:
    """The process-wide deliverer (one connection pool)."""
    global _deliverer
    if _deliverer is None:
        d = settings.delivery
        sender = WebhookSender(
            timeout_s=settings.retry.timeout_s,
            allow_loopback=settings.allow_loopback_webhooks,
            allow_private=settings.allow_private_webhooks,
            limit=d.concurrency,
        )
        _deliverer = Deliverer(settings, sender)
    return _deliverer


@app.agent(deliveries_topic)
async def deliver(stream: Any) -> None:
    """First attempts (and redeliveries), as they come, acknowledged in order."""
    manual = stream.noack()
    main = MainPath(deliverer(), manual, window=WINDOW_PER_SLOT * settings.delivery.concurrency)
    async for event in manual.events():
        await main.submit(event)


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

    def __init__(self, d: Deliverer, stream: Any, batch: int, limit: int) -> None:
        self.d = d
        self.stream = stream
        self.batch = batch
        self.limit = limit
        self.queue: deque[Any] = deque()
        self._more = asyncio.Event()
        self._paused: set[TopicPartition] = set()

    async def put(self, event: Any) -> None:
        """Queue a message; pause fetching from its partition when the queue is long."""
        self.queue.append(event)
        self._more.set()
        if len(self.queue) >= self.limit:
            tp = TopicPartition(event.message.tp.topic, event.message.tp.partition)
            if tp not in self._paused and not _interrupted():
                self._paused.add(tp)
                logger.info("%d retries queued: fetching from %s paused", len(self.queue), tp)
                await _in_consumer_thread(self._pause_fetching, {tp})

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
            await _in_consumer_thread(_resume_fetching, paused)

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
            await self._maybe_resume()
            await self._work(events)

    async def _work(self, events: list[Any]) -> None:
        jobs = parse_jobs([e.value for e in events])
        ready: list[dict[str, Any]] = []
        for i, job in enumerate(jobs):
            wait = float(job.get("hold_until") or 0) - time.time()
            if wait > 0:
                if ready:  # what is already due does not wait behind a later head
                    await send_all(await self.d.due_attempts(ready, _interrupted))
                    ready = []
                if not await _hold(wait):
                    events += await self._let_go(jobs[i:])
                    break
            ready.append(job)
        else:
            if ready:
                await send_all(await self.d.due_attempts(ready, _interrupted))
            if _interrupted() and self.queue:
                events += await self._let_go([])
        for event in events:  # in order: this batch, then what was queued behind it
            await self.stream.ack(event)

    async def _let_go(self, jobs: list[dict[str, Any]]) -> list[Any]:
        """Put jobs and everything queued back on the tiers; the queued messages, to be
        acknowledged after the batch before them."""
        queued = list(self.queue)
        self.queue.clear()
        now = time.time()
        back = jobs + parse_jobs([e.value for e in queued])
        await send_all([self.d.requeue(j, now) for j in back])
        await self._maybe_resume()
        return queued


async def _tier(stream: Any) -> None:
    """A retry tier's agent: read as messages come, and let the Tier work through them."""
    manual = stream.noack()
    d = settings.delivery
    tier = Tier(deliverer(), manual, batch=d.batch, limit=d.retry_queue)
    worker = asyncio.ensure_future(tier.run())
    try:
        async for event in manual.events():
            await tier.put(event)
    finally:
        worker.cancel()


async def _in_consumer_thread(fun: Callable[..., None], tps: set[TopicPartition]) -> None:
    """Run fun(aiokafka consumer, tps) in Faust's consumer thread, which owns the consumer."""
    thread = app.consumer._thread  # type: ignore[attr-defined]
    await thread.call_thread(fun, thread._ensure_consumer(), tps)


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


for _t, _topic in retry_tier_topics.items():
    app.agent(_topic, name=f"agents.delivery.retry_{_t}s")(_tier)


@app.agent(retry_topic)
async def legacy_retry(stream: Any) -> None:
    """Jobs left on the single retry topic of earlier versions go on to the tiers."""
    async for values in stream.take(settings.delivery.batch, within=0.2):
        now = time.time()
        await send_all([deliverer().requeue(job, now) for job in parse_jobs(values)])
