"""One delivery attempt and what follows it: delivered, re-queued on a retry tier, or
dead-lettered; with the bounds (overall and per endpoint) and the list of slow endpoints.
No Faust here: it returns the records to publish, and the agents publish them."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from core import metrics
from core.publish import Message
from core.settings import Settings
from streams.deliveryjob import dead_letter, log_record, parse_iso, signing_secrets
from streams.retry import DUE_SLACK_S, RetryPolicy, route, tier_topic_name
from transport.handlers import handler_refusal, run_command, run_python
from transport.webhooks import Attempt, WebhookSender

logger = logging.getLogger(__name__)
_latencies: dict[str, Any] = {}


def _latency(event_type: str) -> Any:
    """The latency histogram of an event type (labels() costs a lock and a lookup a call)."""
    child = _latencies.get(event_type)
    if child is None:
        child = _latencies[event_type] = metrics.DELIVERY_LATENCY.labels(type=event_type)
    return child


SLOW_HOST_TTL_S = 600.0  # after this a slow host gets one more try on the main path
HOLD_SLICE_S = 0.25  # how often long waits check whether they must let go


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

    def outcome(self, job: dict[str, Any], result: Attempt, now: float) -> list[Message]:
        """Record the attempt in the job; then delivered, re-queued, or dead-lettered."""
        job["attempts"] = [*job.get("attempts", []), result.as_json()]
        job["first_at"] = job.get("first_at") or result.at
        kind = job.get("kind", "webhook")
        seconds = result.latency_ms / 1000
        if kind == "webhook":
            metrics.WEBHOOK_SECONDS.observe(seconds)
        else:
            metrics.ATTEMPT_SECONDS.labels(kind=kind).observe(seconds)
        if result.ok:
            metrics.DELIVERED.inc()
            event = job.get("event") or {}
            occurred = parse_iso(event.get("occurred_at"))
            if occurred is not None:
                _latency(str(event.get("type"))).observe(max(0.0, now - occurred))
            return [self._log(job, "delivered", now)]
        metrics.FAILED_ATTEMPTS.inc()
        policy = RetryPolicy.from_dict(job.get("retry"), self.default_policy)
        delay = policy.next_delay(len(job["attempts"]), now - float(job["first_at"]))
        if delay is None:
            metrics.DEAD_LETTERS.inc()
            logger.warning("delivery %s failed after %d attempts", job["id"], len(job["attempts"]))
            job["next_attempt_at"] = None
            dlq = Message(
                "deliveries.dlq", job["event"]["id"].encode(), orjson.dumps(dead_letter(job))
            )
            return [dlq, self._log(job, "failed", now)]
        job["next_attempt_at"] = now + delay
        logger.info("delivery %s failed (%s); retry in %gs", job["id"], result.error, delay)
        return [self.requeue(job, now), self._log(job, "pending", now)]

    def requeue(self, job: dict[str, Any], now: float) -> Message:
        """The job onto the retry tier that serves what is left of its wait."""
        tier, hold = route(float(job.get("next_attempt_at") or now) - now)
        job["hold_until"] = now + hold
        return Message(tier_topic_name(tier), job["monitor_id"].encode(), orjson.dumps(job))

    @staticmethod
    def _log(job: dict[str, Any], status: str, now: float) -> Message:
        rec = log_record(job, status, now)
        return Message("deliveries.log", job["id"].encode(), orjson.dumps(rec))

    async def first_attempt(self, job: dict[str, Any]) -> list[Message]:
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
        metrics.HANDED_OFF.inc()
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
    ) -> list[Message]:
        """The retry path: attempt what is due (full timeout), re-queue what is not yet.

        Many due jobs for one hanging endpoint take minutes (its bound lets 16 through per
        timeout), and Faust holds up a rebalance or a shutdown until they end: so when
        `interrupted()` turns true, the attempts still waiting or running are cancelled and
        their jobs go back on the tiers unchanged (a cancelled attempt does not count)."""
        now = time.time()
        out: list[Message] = []
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
