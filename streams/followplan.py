"""What the chain follower writes besides its blocks: reorg markers and its cursor record."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from streams.canon import Cursor
from streams.tablewrites import CURSORS, TableWrite


def reorg_marker(
    chain: str, chain_id: int, fork: int, orphaned: list[tuple[int, str]]
) -> dict[str, Any]:
    """The reorg marker published on the blocks topic before the new canonical blocks.

    Its id is a digest of the chain, the fork point and the orphaned hashes, so a marker
    published again (a crash before the cursor moved) carries the same id and the tracker's
    fold treats it as a replay."""
    digest = hashlib.sha256(
        f"{chain}:{fork}:".encode() + b",".join(h.encode() for _, h in orphaned)
    ).hexdigest()[:32]
    return {
        "type": "reorg",
        "id": f"reorg_{digest}",
        "chain": chain,
        "chain_id": chain_id,
        "fork_number": fork,
        "depth": len(orphaned),
        "orphaned": [{"number": n, "hash": h} for n, h in orphaned],
    }


def cursor_write(chain: str, cursor: Cursor) -> TableWrite:
    """The cursors-table record of a chain (written only after its blocks are acknowledged)."""
    return TableWrite(CURSORS, chain.encode(), orjson.dumps(cursor))
