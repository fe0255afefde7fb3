"""Delivery agents. The main agent attempts each delivery as it comes (many at once,
bounded overall and per endpoint) and never waits long: an attempt that has no answer within
`delivery.fast_timeout_s` is handed to the retry path and its endpoint is kept off the main
path while it stays slow (agents/mainpath.py). Failures wait on the retry tiers (one FIFO
topic per delay, streams/retry.py), whose agents sleep only until their head is due, attempt
what is due, and re-queue or dead-letter (agents/retrytier.py). Every attempt is written to
the delivery log topic. An offset is acknowledged only after the effects of its message are
on the broker (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agents.deliverer import Deliverer
from agents.mainpath import MainPath
from agents.retrytier import Tier
from faust_app import app, publisher, settings
from faust_app.acks import acked_batches
from faust_app.topics import deliveries_topic, retry_tier_topics, retry_topic
from streams.deliveryjob import parse_jobs
from transport.webhooks import WebhookSender

# Unfinished main-path deliveries per slot of `delivery.concurrency`: enough queued work
# to keep every slot busy while an endpoint holds a few of them until the fast timeout.
WINDOW_PER_SLOT = 16


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
    window = WINDOW_PER_SLOT * settings.delivery.concurrency
    main = MainPath(deliverer(), manual, window=window, publisher=publisher)
    async for event in manual.events():
        await main.submit(event)


def _tier_agent(seconds: int) -> Callable[[Any], Awaitable[None]]:
    """The agent of the tier whose jobs wait `seconds`."""

    async def _tier(stream: Any) -> None:
        """A retry tier's agent: read as messages come, and let the Tier work through them."""
        manual = stream.noack()
        d = settings.delivery
        tier = Tier(
            deliverer(),
            manual,
            batch=d.batch,
            limit=d.retry_queue,
            publisher=publisher,
            name=f"{seconds}s",
        )
        worker = asyncio.ensure_future(tier.run())
        try:
            async for event in manual.events():
                await tier.put(event)
        finally:
            worker.cancel()

    return _tier


for _t, _topic in retry_tier_topics.items():
    app.agent(_topic, name=f"agents.delivery.retry_{_t}s")(_tier_agent(_t))


@app.agent(retry_topic)
async def legacy_retry(stream: Any) -> None:
    """Jobs left on the single retry topic of earlier versions go on to the tiers."""
    async for events in acked_batches(stream, settings.delivery.batch, 0.2):
        now = time.time()
        jobs = parse_jobs([e.value for e in events])
        await publisher.publish([deliverer().requeue(job, now) for job in jobs])
