"""backfill_range: batches fetched ahead and at once, published in order, gaps fail loudly."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from chain.backfill import backfill_id, backfill_range
from chain.follower import BlockSource
from core.errors import RpcError
from core.settings import ChainSettings
from streams.records import BlockRecord

CHAIN = ChainSettings(name="local", chain_id=31337, rpc_urls=["http://127.0.0.1:1"])


def record(n: int) -> BlockRecord:
    return BlockRecord(
        chain="local",
        chain_id=31337,
        number=n,
        hash="0x" + f"{n:064x}",
        parent_hash="0x" + f"{n - 1:064x}",
        timestamp=n,
        transactions=[],
        logs=[],
        tokens={},
    )


class FakeSource(BlockSource):
    """Serves blocks after a delay that shrinks with the number (later batches answer first);
    `missing` blocks are None for their first `misses` requests."""

    def __init__(self, missing: set[int] | None = None, misses: int = 1) -> None:
        super().__init__(CHAIN, rpc=None)
        self.missing = missing or set()
        self.misses = misses
        self.asked: dict[int, int] = {}
        self.in_flight = 0
        self.most_in_flight = 0

    async def blocks(self, numbers: list[int]) -> list[BlockRecord | None]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.02 / (1 + numbers[0]))
            out: list[BlockRecord | None] = []
            for n in numbers:
                self.asked[n] = self.asked.get(n, 0) + 1
                gone = n in self.missing and self.asked[n] <= self.misses
                out.append(None if gone else record(n))
            return out
        finally:
            self.in_flight -= 1


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []

    async def __call__(self, messages: list[tuple[bytes, bytes]]) -> None:
        assert all(k == b"local" for k, _ in messages)
        self.batches.append([orjson.loads(v) for _, v in messages])


async def test_published_in_order_with_batches_in_flight() -> None:
    src, sink = FakeSource(), Sink()
    seen: list[int] = []
    n = await backfill_range(src, sink, 3, 40, batch=5, progress=seen.append, concurrency=3)
    assert n == 38 and sum(seen) == 38
    numbers = [b["number"] for batch in sink.batches for b in batch]
    assert numbers == list(range(3, 41))
    assert [len(b) for b in sink.batches] == [5] * 7 + [3]
    assert src.most_in_flight == 3
    mark = sink.batches[0][0]["backfill"]
    assert mark == {"id": backfill_id("local", 3, 40, None), "monitors": None}
    assert all(b["type"] == "block" for batch in sink.batches for b in batch)


async def test_one_at_a_time_and_monitors_in_the_mark() -> None:
    src, sink = FakeSource(), Sink()
    await backfill_range(src, sink, 0, 9, monitors=["mon_b", "mon_a"], batch=4, concurrency=1)
    assert src.most_in_flight == 1
    assert [b["number"] for batch in sink.batches for b in batch] == list(range(10))
    assert sink.batches[0][0]["backfill"]["monitors"] == ["mon_b", "mon_a"]


async def test_a_block_missing_for_a_while_is_asked_again() -> None:
    src, sink = FakeSource(missing={7}, misses=2), Sink()
    assert await backfill_range(src, sink, 0, 19, batch=5, retries=3) == 20
    assert src.asked[7] == 3
    assert [b["number"] for batch in sink.batches for b in batch] == list(range(20))


async def test_a_gap_fails_loudly_and_nothing_after_it_is_published() -> None:
    src, sink = FakeSource(missing={12}, misses=100), Sink()
    with pytest.raises(RpcError, match=r"does not serve blocks \[12\]"):
        await backfill_range(src, sink, 0, 39, batch=5, retries=2)
    published = [b["number"] for batch in sink.batches for b in batch]
    assert published == list(range(10))
    await asyncio.sleep(0.05)  # the batches fetched ahead were cancelled, none is left running
    assert src.in_flight == 0
