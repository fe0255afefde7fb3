"""Webhook delivery: try once from the main stream; failures go to the retry topic, which
waits only until its head is due; a delivery the policy gives up on goes to the DLQ."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from agents.sending import send_acked
from blockhook import metrics
from blockhook.webhooks import WebhookSender
from faust_app import app, settings
from streams.retry import RetryPolicy
from streams.topics import deliveries_topic, dlq_topic, retry_topic

logger = logging.getLogger(__name__)

_sender: WebhookSender | None = None
DEFAULT_POLICY = RetryPolicy(
    interval_s=settings.retry.interval_s,
    max_age_s=settings.retry.max_age_s,
    delays_s=tuple(settings.retry.delays_s) if settings.retry.delays_s else None,
)


def sender() -> WebhookSender:
    """The process-wide webhook sender."""
    global _sender
    if _sender is None:
        _sender = WebhookSender(
            timeout_s=settings.retry.timeout_s,
            allow_loopback=settings.allow_loopback_webhooks,
            allow_private=settings.allow_private_webhooks,
        )
    return _sender


async def attempt(job: dict[str, Any]) -> None:
    """One attempt; then done, scheduled on the retry topic, or dead-lettered."""
    body = orjson.dumps(job["event"])
    secrets = [s for s in job.get("secrets", []) if s]
    result = await sender().send(job["url"], secrets, job["event"]["id"], body)
    now = time.time()
    job["attempts"].append(result.as_json())
    job["first_at"] = job.get("first_at") or result.at
    if result.ok:
        metrics.inc("blockhook_deliveries_total", help="webhook deliveries", outcome="delivered")
        logger.info("delivered %s to %s (%s)", job["event"]["id"], job["url"], result.status_code)
        return
    metrics.inc("blockhook_deliveries_total", help="webhook deliveries", outcome="failed_attempt")
    policy = RetryPolicy.from_dict(job.get("retry"), DEFAULT_POLICY)
    delay = policy.next_delay(len(job["attempts"]), now - float(job["first_at"]))
    if delay is None:
        job["status"] = "failed"
        logger.warning(
            "delivery %s failed for good after %d attempts", job["id"], len(job["attempts"])
        )
        metrics.inc("blockhook_deliveries_total", help="webhook deliveries", outcome="dead_letter")
        record = {k: v for k, v in job.items() if k != "secrets"}  # never publish secrets
        await send_acked(dlq_topic, [(job["event"]["id"].encode(), orjson.dumps(record), None)])
        return
    job["next_attempt_at"] = now + delay
    logger.info("delivery %s failed (%s); retry in %gs", job["id"], result.error, delay)
    await send_acked(retry_topic, [(job["monitor_id"].encode(), orjson.dumps(job), None)])


@app.agent(deliveries_topic)
async def deliver(stream: Any) -> None:
    """First attempt of every delivery."""
    async for value in stream:
        try:
            job = orjson.loads(value)
        except orjson.JSONDecodeError:
            logger.error("unreadable delivery job skipped")
            continue
        await attempt(job)


@app.agent(retry_topic)
async def redeliver(stream: Any) -> None:
    """Retries, in order: wait until the head is due, then attempt again."""
    async for value in stream:
        try:
            job = orjson.loads(value)
        except orjson.JSONDecodeError:
            logger.error("unreadable retry job skipped")
            continue
        wait = float(job.get("next_attempt_at", 0)) - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        await attempt(job)
