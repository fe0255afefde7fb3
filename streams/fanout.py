"""The decode stage's output: for each transfers partition, the records of a batch of blocks,
in order, packed into as few messages as a size cap allows.

A record is what the tracker folds: a block (its head tick and the routed transfers that
partition owns), a backfilled block, or a reorg marker. Every partition gets a record for
every block, so a batch of blocks costs one message per partition instead of one per block
and partition: the per-message cost of the broker and of Faust is paid once per batch.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

import orjson

from streams.decode import decode_block
from streams.match import route
from streams.records import BlockRecord

MAX_MESSAGE_BYTES = 1_000_000  # well under the topics' limit, whatever the broker's default


def records_for(
    record: dict[str, Any],
    partitions: int,
    *,
    native_symbol: str,
    finality_depth: int,
    watched: Container[str] | None,
) -> list[bytes]:
    """One encoded tracker record per partition for one block or reorg marker.

    Only transfers with a side in `watched` are decoded and routed (None: all of them)."""
    if record.get("type") == "reorg":
        reorg = orjson.dumps({**record, "t": "reorg"})
        return [reorg] * partitions
    block: BlockRecord = record  # type: ignore[assignment]
    chain = str(record["chain"])
    routed = route(chain, decode_block(block, native_symbol, watched), partitions)
    backfill = record.get("backfill")
    head = {
        "t": "backfill" if backfill else "block",
        "monitors": backfill.get("monitors") if isinstance(backfill, dict) else None,
        "chain": chain,
        "chain_id": block["chain_id"],
        "number": block["number"],
        "hash": block["hash"],
        "finality_depth": finality_depth,
    }
    return [orjson.dumps({**head, "items": routed.get(p, [])}) for p in range(partitions)]


class Packer:
    """Collects encoded records per partition and packs them into JSON-array messages, each
    under `limit` bytes (a single larger record still travels, alone)."""

    def __init__(self, partitions: int, limit: int = MAX_MESSAGE_BYTES) -> None:
        self.limit = limit
        self._open: list[list[bytes]] = [[] for _ in range(partitions)]
        self._sizes = [0] * partitions
        self._done: list[tuple[int, bytes]] = []

    def add(self, per_partition: list[bytes]) -> None:
        """Append one record to each partition (per_partition[p] goes to partition p)."""
        for p, rec in enumerate(per_partition):
            self.add_to(p, rec)

    def add_to(self, p: int, rec: bytes) -> None:
        """Append one record to partition p."""
        if self._open[p] and self._sizes[p] + len(rec) + 1 > self.limit:
            self._close(p)
        self._open[p].append(rec)
        self._sizes[p] += len(rec) + 1

    def _close(self, p: int) -> None:
        self._done.append((p, b"[" + b",".join(self._open[p]) + b"]"))
        self._open[p] = []
        self._sizes[p] = 0

    def messages(self) -> list[tuple[int, bytes]]:
        """(partition, value) messages in the order they must be sent, and start afresh."""
        for p in range(len(self._open)):
            if self._open[p]:
                self._close(p)
        out, self._done = self._done, []
        return out
