"""Re-scan a block range into the pipeline: blocks published with a backfill mark."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence

import orjson

from chain.follower import BlockSource
from core.errors import RpcError

logger = logging.getLogger(__name__)

Publish = Callable[[list[tuple[bytes, bytes]]], Awaitable[None]]


def backfill_id(chain: str, start: int, end: int, monitors: Sequence[str] | None) -> str:
    """A deterministic id for one backfill request."""
    raw = f"{chain}:{start}:{end}:{','.join(sorted(monitors or []))}".encode()
    return "bf_" + hashlib.sha256(raw).hexdigest()[:24]


async def backfill_range(
    source: BlockSource,
    publish: Publish,
    start: int,
    end: int,
    monitors: Sequence[str] | None = None,
    batch: int = 20,
    progress: Callable[[int], None] | None = None,
    retries: int = 5,
) -> int:
    """Publish blocks start..end (inclusive) marked as backfill; returns blocks published.

    A block the node does not serve is retried a few times, then the range fails loudly
    (a gap must never pass silently).
    """
    chain = source.chain
    bid = backfill_id(chain.name, start, end, monitors)
    mark = {"id": bid, "monitors": list(monitors) if monitors else None}
    done = 0
    n = start
    while n <= end:
        numbers = list(range(n, min(end, n + batch - 1) + 1))
        for attempt in range(retries + 1):
            blocks = await source.blocks(numbers)
            if all(b is not None for b in blocks):
                break
            if attempt == retries:
                missing = [x for x, b in zip(numbers, blocks, strict=True) if b is None]
                raise RpcError(f"chain {chain.name}: node does not serve blocks {missing}")
        out = [
            (chain.name.encode(), orjson.dumps({"type": "block", **b, "backfill": mark}))
            for b in blocks
            if b is not None
        ]
        await publish(out)
        done += len(out)
        if progress:
            progress(len(out))
        n = numbers[-1] + 1
    return done
