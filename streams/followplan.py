"""What the chain follower writes besides its blocks (reorg markers, its cursor record), and
when it asks the node for a new block between the regular ticks (NextBlock)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
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


MIN_STEP_S = 0.02  # the closest two extra polls of a chain ever come
MAX_EXTRA = 8  # extra polls a window of uncertainty is split into, at most


@dataclass
class NextBlock:
    """When a chain's next block should appear on its node, learned from the follower's own
    polls, and when to ask the node between the regular ticks so it is seen soon after.

    A poll that finds exactly one new block tells that it appeared after the previous poll
    and no later than this one; the blocks' timestamps tell the time between blocks. The
    next block is then expected one gap later, within the same uncertainty (plus a little
    for jitter): a few polls spread over that window find it within a step, and the window
    narrows to about that step. Chains whose blocks come faster than twice the poll
    interval, or whose rhythm is not known (several blocks at once, a first poll), are left
    to the regular ticks."""

    gap_s: float | None = None  # seconds between blocks (from their timestamps)
    lo: float | None = None  # the last block appeared after lo ...
    hi: float | None = None  # ... and no later than hi (monotonic seconds)
    last_poll: float | None = None  # when the node last answered a head request
    last_head: int | None = None
    last_ts: int | None = None  # timestamp of the block last seen at the head

    def polled(self, at: float, head: int, head_ts: int | None) -> None:
        """The node answered `head` at `at`; head_ts is that block's timestamp (None when
        it was not fetched)."""
        new = None if self.last_head is None else head - self.last_head
        if new == 1 and self.last_poll is not None:
            self.lo, self.hi = self.last_poll, at
            if head_ts is not None and self.last_ts is not None and head_ts > self.last_ts:
                self.gap_s = float(head_ts - self.last_ts)
        elif new is None or new > 1 or new < 0:
            self.lo = self.hi = None
        if new != 0:
            self.last_ts = head_ts
        self.last_head, self.last_poll = head, at

    def ask_at(self, now: float, poll_interval_s: float) -> float | None:
        """When to poll next, if before the next regular tick; None: the tick will do."""
        if self.gap_s is None or self.lo is None or self.hi is None:
            return None
        if self.gap_s < 2 * poll_interval_s:
            return None
        margin = max(MIN_STEP_S, 0.02 * self.gap_s)
        start = self.lo + self.gap_s - margin
        end = self.hi + self.gap_s + margin
        step = max(MIN_STEP_S, (end - start) / MAX_EXTRA)
        if now < start:
            return start if start < now + poll_interval_s else None
        if now + step <= end:
            return now + step
        return None
