"""Delivery agents. The main agent makes each delivery's first attempt, a batch at a time,
concurrently (bounded overall and per host), and never waits long: an attempt that has no
answer within `delivery.fast_timeout_s` is handed to the retry path and its host is kept off
the main path while it stays slow. Failures wait on the retry tiers (one FIFO topic per
delay, streams/retry.py), whose agents sleep only until their head is due, attempt what is
due, and re-queue or dead-letter. Every attempt is written to the delivery log topic.
Offsets move only after a batch's effects are acknowledged by the broker (take() acks the
batch when the loop comes back for the next one)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import orjson

from blockhook import metrics
from blockhook.handlers import handler_refusal, run_command, run_python
from blockhook.settings import Settings
from blockhook.webhooks import Attempt, WebhookSender
from faust_app import app, settings
from streams.deliveryjob import dead_letter, log_record, signing_secrets
from streams.retry import DUE_SLACK_S, RetryPolicy, route
from streams.topics import (
    deliveries_topic,
    delivery_log_topic,
    dlq_topic,
    retry_tier_topics,
    retry_topic,
)

logger = logging.getLogger(__name__)

Out = tuple[Any, bytes, bytes]  # (topic, key, value)
SLOW_HOST_TTL_S = 600.0  # after this a slow host gets one more try on the main path


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
        parts = urlsplit(str(job.get("url", "")))
        return f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"
    return str(job.get("url", ""))


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

    async def attempt(self, job: dict[str, Any]) -> Attempt:
        """One attempt with the full timeout; never raises."""
        kind = job.get("kind", "webhook")
        event = job["event"]
        d = self.s.delivery
        if kind == "webhook":
            body = orjson.dumps(event)
            secrets = signing_secrets(job, time.time())
            return await self.sender.send(job["url"], secrets, event["id"], body)
        handler = job.get("handler") or {}
        why = handler_refusal(handler, d.python_handlers, d.command_handlers)
        if why is not None:
            return Attempt(time.time(), None, 0, f"refused: {why}", None, succeeded=False)
        if kind == "python":
            return await run_python(str(handler["target"]), event, self.s.retry.timeout_s)
        timeout = float(handler.get("timeout_s") or d.command_timeout_s)
        return await run_command([str(a) for a in handler["argv"]], event, timeout)

    async def _bounded(self, job: dict[str, Any], started: dict[str, float]) -> Attempt:
        target = target_of(job)
        host_sem = self._host_sems.get(target)
        if host_sem is None:
            host_sem = self._host_sems[target] = asyncio.Semaphore(self.s.delivery.per_host)
        async with self._sem, host_sem:
            started[job["id"]] = time.monotonic()
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

    async def _chain(
        self, jobs: list[dict[str, Any]], started: dict[str, float], results: dict[str, Attempt]
    ) -> None:
        for job in jobs:
            results[job["id"]] = await self._bounded(job, started)

    async def first_attempts(self, jobs: list[dict[str, Any]]) -> list[Out]:
        """The main path: attempt concurrently; hand what is slow to the retry path.

        The events of one transfer for one monitor are attempted one after the other, in
        the order they came (seen before confirmed); everything else at once."""
        now = time.time()
        out: list[Out] = []
        chains: dict[tuple[str, str], list[dict[str, Any]]] = {}
        attempted: list[dict[str, Any]] = []
        for job in jobs:
            if self.is_slow(target_of(job)):
                job["next_attempt_at"] = now  # due at once, on the retry path
                out.append(self.requeue(job, now))
                metrics.inc("blockhook_deliveries_handed_off_total", help="to the retry path")
            else:
                key = (str(job["monitor_id"]), str(job["event"].get("tx_hash")))
                chains.setdefault(key, []).append(job)
                attempted.append(job)
        if not chains:
            return out
        started: dict[str, float] = {}
        results: dict[str, Attempt] = {}
        tasks = [asyncio.ensure_future(self._chain(c, started, results)) for c in chains.values()]
        _, pending = await asyncio.wait(tasks, timeout=self.s.delivery.fast_timeout_s)
        for t in pending:
            t.cancel()
        for r in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(r, Exception):
                logger.error("delivery attempt raised: %r", r)
        now, mono = time.time(), time.monotonic()
        for job in attempted:
            result = results.get(job["id"])
            if result is not None:
                out += self.outcome(job, result, now)
                continue
            target = target_of(job)
            ran = started.get(job["id"])
            if ran is not None and mono - ran >= self.s.delivery.fast_timeout_s * 0.9:
                if target not in self.slow:
                    logger.warning("%s is slow: off the main path for now", target)
                self.slow[target] = mono
            job["next_attempt_at"] = now
            out.append(self.requeue(job, now))
            metrics.inc("blockhook_deliveries_handed_off_total", help="to the retry path")
        return out

    async def due_attempts(self, jobs: list[dict[str, Any]]) -> list[Out]:
        """The retry path: attempt what is due (full timeout), re-queue what is not yet."""
        now = time.time()
        out: list[Out] = []
        due: list[dict[str, Any]] = []
        for job in jobs:
            if float(job.get("next_attempt_at") or 0) - now > DUE_SLACK_S:
                out.append(self.requeue(job, now))
            else:
                due.append(job)
        started: dict[str, float] = {}
        results = await asyncio.gather(*(self._bounded(j, started) for j in due))
        now = time.time()
        for job, result in zip(due, results, strict=True):
            target = target_of(job)
            if result.latency_ms >= self.s.delivery.fast_timeout_s * 1000:
                self.slow[target] = time.monotonic()
            elif result.ok:
                self.slow.pop(target, None)
            out += self.outcome(job, result, now)
        return out


async def publish(messages: list[Out]) -> None:
    """Send every message and wait until the broker has them all."""
    futures = [await topic.send(key=key, value=value) for topic, key, value in messages]
    for fut in futures:
        await fut


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


def parse_jobs(values: list[Any]) -> list[dict[str, Any]]:
    """The readable jobs of a batch (an unreadable one is logged and skipped)."""
    jobs: list[dict[str, Any]] = []
    for v in values:
        try:
            job = orjson.loads(v)
        except orjson.JSONDecodeError:
            logger.error("unreadable delivery job skipped")
            continue
        if isinstance(job, dict) and isinstance(job.get("event"), dict) and job.get("url"):
            jobs.append(job)
        else:
            logger.error("malformed delivery job skipped")
    return jobs


@app.agent(deliveries_topic)
async def deliver(stream: Any) -> None:
    """First attempts (and redeliveries), a batch at a time."""
    batch_n = settings.delivery.batch
    async for values in stream.take(batch_n, within=0.05):
        await publish(await deliverer().first_attempts(parse_jobs(values)))


async def _tier(stream: Any) -> None:
    """One retry tier: FIFO, so sleep until the head is due; attempt what is due together."""
    async for values in stream.take(settings.delivery.batch, within=0.2):
        ready: list[dict[str, Any]] = []
        for job in parse_jobs(values):
            wait = float(job.get("hold_until") or 0) - time.time()
            if wait > 0:
                if ready:  # what is already due does not wait behind a later head
                    await publish(await deliverer().due_attempts(ready))
                    ready = []
                await asyncio.sleep(wait)
            ready.append(job)
        if ready:
            await publish(await deliverer().due_attempts(ready))


for _t, _topic in retry_tier_topics.items():
    app.agent(_topic, name=f"agents.delivery.retry_{_t}s")(_tier)


@app.agent(retry_topic)
async def legacy_retry(stream: Any) -> None:
    """Jobs left on the single retry topic of earlier versions go on to the tiers."""
    async for values in stream.take(settings.delivery.batch, within=0.2):
        now = time.time()
        await publish([deliverer().requeue(job, now) for job in parse_jobs(values)])
