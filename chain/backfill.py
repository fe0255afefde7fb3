"""Re-scan a block range into the pipeline: blocks published with a backfill mark."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import orjson

from chain.follower import BlockSource
from core.errors import RpcError
from streams.records import BlockRecord

logger = logging.getLogger(__name__)

Publish = Callable[[list[tuple[bytes, bytes]]], Awaitable[None]]

# Batches fetched at once: a node answers several requests in parallel, and one batch at a
# time leaves it (and us) waiting on each round trip; measured in bench/bench_backfill.py.
CONCURRENCY = 4


def backfill_id(chain: str, start: int, end: int, monitors: Sequence[str] | None) -> str:
    """A deterministic id for one backfill request."""
    raw = f"{chain}:{start}:{end}:{','.join(sorted(monitors or []))}".encode()
    return "bf_" + hashlib.sha256(raw).hexdigest()[:24]


async def _fetch(source: BlockSource, numbers: list[int], retries: int) -> list[BlockRecord]:
    """Blocks `numbers`, every one of them: retried while the node misses some, then the
    range fails loudly (a gap must never pass silently)."""
    for attempt in range(retries + 1):
        blocks = await source.blocks(numbers)
        if all(b is not None for b in blocks):
            return [b for b in blocks if b is not None]
        if attempt == retries:
            missing = [x for x, b in zip(numbers, blocks, strict=True) if b is None]
            raise RpcError(f"chain {source.chain.name}: node does not serve blocks {missing}")
    raise AssertionError("unreachable")


async def backfill_range(
    source: BlockSource,
    publish: Publish,
    start: int,
    end: int,
    monitors: Sequence[str] | None = None,
    batch: int = 20,
    progress: Callable[[int], None] | None = None,
    retries: int = 5,
    concurrency: int = CONCURRENCY,
) -> int:
    """Publish blocks start..end (inclusive) marked as backfill; returns blocks published.

    Up to `concurrency` batches of `batch` blocks are fetched at once, ahead of publishing;
    they are published one batch at a time, in order. A block the node does not serve is
    retried a few times, then the range fails loudly (a gap must never pass silently).
    """
    chain = source.chain
    bid = backfill_id(chain.name, start, end, monitors)
    mark = {"id": bid, "monitors": list(monitors) if monitors else None}
    key = chain.name.encode()
    ranges = deque(
        list(range(n, min(end, n + batch - 1) + 1)) for n in range(start, end + 1, batch)
    )
    fetching: deque[asyncio.Task[list[BlockRecord]]] = deque()

    def more() -> None:
        while ranges and len(fetching) < max(1, concurrency):
            fetching.append(asyncio.ensure_future(_fetch(source, ranges.popleft(), retries)))

    done = 0
    try:
        more()
        while fetching:
            blocks = await fetching.popleft()
            more()
            out = [(key, orjson.dumps({"type": "block", **b, "backfill": mark})) for b in blocks]
            await publish(out)
            done += len(out)
            if progress:
                progress(len(out))
    finally:
        for task in fetching:
            task.cancel()
        for task in fetching:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return done
