"""Backfill requests (a monitor's start_block): re-scan the range into the blocks topic."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from chain.backfill import backfill_range
from chain.follower import BlockSource
from core import metrics
from core.errors import RpcError
from core.publish import Message
from faust_app import app, publisher, settings
from faust_app.acks import acked_events
from faust_app.topics import backfill_topic

logger = logging.getLogger(__name__)

_sources: dict[str, BlockSource] = {}


async def _publish(messages: list[tuple[bytes, bytes]]) -> None:
    await publisher.publish(Message("blocks", k, v) for k, v in messages)


@app.agent(backfill_topic)
async def run_backfills(stream: Any) -> None:
    """One request at a time per chain; retried until done (blocks are replay-safe)."""
    async for event in acked_events(stream):
        value = event.value
        try:
            req = orjson.loads(value)
            chain = settings.chain(str(req["chain"]))
            start = int(req["from"])
        except (ValueError, KeyError, TypeError) as exc:
            logger.error("bad backfill request skipped: %s", exc)
            continue
        if chain is None:
            logger.error("backfill for unknown chain %r skipped", req.get("chain"))
            continue
        src = _sources.get(chain.name) or _sources.setdefault(chain.name, BlockSource(chain))
        while True:
            try:
                end = int(req["to"]) if req.get("to") is not None else await src.head()
                n = await backfill_range(src, _publish, start, end, req.get("monitors"))
                metrics.BACKFILL_BLOCKS.labels(chain=chain.name).inc(n)
                logger.info("backfill %s %d..%d done (%d blocks)", chain.name, start, end, n)
                break
            except RpcError as exc:
                logger.warning("backfill %s from %d failed, retrying: %s", chain.name, start, exc)
                await asyncio.sleep(5)
