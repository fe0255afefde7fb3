"""Activity rates for the admin dashboard: events counted per second, and the followers'
`heads` records (what they publish, and blocks and transfers per minute from them).

Pure: every timestamp is passed in (a record's timestamp, or the caller's clock), so the
folds that use it replay the same way and the tests need no clock."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from streams.records import BlockRecord

# A follower publishes a chain's heads record at most this often.
HEADS_EVERY_S = 1.0
# "Per minute" is over this many seconds.
WINDOW_S = 60
_SLOTS = 2 * WINDOW_S  # one minute asked, one more minute of slack for early timestamps
_EMPTY = -(1 << 62)  # the second of a slot that has counted nothing


class RateWindow:
    """Counts of events per one-second bucket, to answer "how many in the last minute".

    A fixed ring of 120 buckets, each holding the second it counts: adding is O(1) and the
    memory never grows, whatever the rate. Timestamps may come in any order (a fold reads
    one partition after another): `per_minute(now)` is exact for every event whose second is
    at most a minute after now's; an event from further in the future (a skewed clock) can
    take the bucket of one second of the minute asked about."""

    __slots__ = ("_counts", "_secs")

    def __init__(self) -> None:
        self._secs = [_EMPTY] * _SLOTS
        self._counts = [0] * _SLOTS

    def add(self, ts: float, n: int = 1) -> None:
        """Count n events at ts (unix seconds)."""
        self.add_second(math.floor(ts), n)

    def add_second(self, s: int, n: int = 1) -> None:
        """Count n events in second s (unix seconds, floored): the folds' path, one call and
        no float (`ts_ms // 1000` of a record's timestamp)."""
        i = s % _SLOTS
        held = self._secs[i]
        if held == s:
            self._counts[i] += n
        elif held < s:
            self._secs[i] = s
            self._counts[i] = n
        # else: two minutes or more older than an event already counted in this bucket, so
        # outside any minute asked about while that event is not in the future.

    def per_minute(self, now: float) -> int:
        """Events in the 60 one-second buckets that end with now's second."""
        t = math.floor(now)
        secs, counts = self._secs, self._counts
        total = 0
        for s in range(t - WINDOW_S + 1, t + 1):
            i = s % _SLOTS
            if secs[i] == s:
                total += counts[i]
        return total


class HeadsSample(NamedTuple):
    """What the rates need of one heads record: when, and the follower's two counters."""

    at: float
    blocks_total: int
    transfers_total: int


def chain_rates(
    samples: Sequence[HeadsSample], now: float, window_s: float = WINDOW_S
) -> tuple[float, float]:
    """Blocks and transfers per minute of one chain over the last window_s seconds, from its
    heads samples in the order they came (oldest first).

    The counters are cumulative per follower process, so the rate is the growth between the
    newest sample and the newest one at or before the window's start (the oldest one if
    none is). A counter that goes down (or a clock that goes back) between two samples means
    another process took over: the count starts over from the later sample, so a rate is
    never negative. Nothing heard for a whole window, or a single sample, gives 0.0."""
    it = reversed(samples)  # a deque walks backwards as cheaply as a list
    last = next(it, None)
    if last is None or last.at < now - window_s:
        return 0.0, 0.0
    start = now - window_s
    base = last
    for s in it:
        if s.blocks_total > base.blocks_total or s.transfers_total > base.transfers_total:
            break  # the counters went down after s: base is the first of this process
        if s.at > base.at:
            break
        base = s
        if s.at <= start:
            break
    span = last.at - base.at
    if span <= 0:
        return 0.0, 0.0
    k = 60.0 / span
    return (
        (last.blocks_total - base.blocks_total) * k,
        (last.transfers_total - base.transfers_total) * k,
    )


def block_transfers(block: BlockRecord) -> int:
    """The transfers a normalised block carries, as the follower counts them: its
    value-carrying transactions and its transfer logs (two len() calls, no decoding; a
    reverted transaction and an ERC1155 batch log count once each)."""
    return len(block["transactions"]) + len(block["logs"])


@dataclass(slots=True)
class HeadsBeat:
    """One follower process's account of a chain for the `heads` topic: what it has
    published since it started, and when it last said so (at most every HEADS_EVERY_S)."""

    chain: str
    blocks_total: int = 0
    transfers_total: int = 0
    last_at: float | None = None

    def count(self, blocks: int, transfers: int) -> None:
        """Add the blocks (and their transfers) just published."""
        self.blocks_total += blocks
        self.transfers_total += transfers

    def due(self, now: float) -> bool:
        """Whether a record may go out at now (a clock that went back counts as due)."""
        return self.last_at is None or not 0 <= now - self.last_at < HEADS_EVERY_S

    def record(self, block: int, node_head: int | None, now: float) -> dict[str, Any]:
        """The heads record (the value; the key is the chain name), noted as sent at now."""
        self.last_at = now
        return {
            "chain": self.chain,
            "block": block,
            "node_head": node_head,
            "blocks_total": self.blocks_total,
            "transfers_total": self.transfers_total,
            "at": now,
        }
