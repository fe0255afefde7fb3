"""Every worker's view of the chain followers, for the admin dashboard: the heads topic
folded into the latest record of each chain and about ten minutes of samples of it.

Whichever worker follows a chain publishes its heads record (at most once a second); any
worker serves the dashboard, so each one folds the whole topic like the other views."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, TypeGuard

from core.settings import Settings
from streams.rates import HeadsSample, chain_rates
from views.topicfold import UNREADABLE, TopicFold, parsed

# Samples older than this (behind a chain's newest) are dropped; the count is a bound too,
# for two followers of one chain publishing at once during a hand-over.
KEEP_S = 600.0
KEEP_SAMPLES = 1200


@dataclass(frozen=True, slots=True)
class ChainActivity:
    """One chain's row on the dashboard. `lag` is node_head - block (None when the node's
    head is not known); `age_s` is how old the latest record is."""

    chain: str
    block: int
    node_head: int | None
    lag: int | None
    blocks_per_min: float
    transfers_per_min: float
    age_s: float


@dataclass(frozen=True, slots=True)
class HeadsRecord:
    """A heads record as published by a chain's follower (see agents/follower.py)."""

    chain: str
    block: int
    node_head: int | None
    blocks_total: int
    transfers_total: int
    at: float


def _int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def heads_record(data: Any) -> HeadsRecord | None:
    """The record if the value has the heads shape, else None (the fold skips it)."""
    if not isinstance(data, dict):
        return None
    chain, block, head = data.get("chain"), data.get("block"), data.get("node_head")
    blocks, transfers, at = data.get("blocks_total"), data.get("transfers_total"), data.get("at")
    if not (isinstance(chain, str) and chain and _int(block) and _int(blocks)):
        return None
    if not (_int(transfers) and (head is None or _int(head))):
        return None
    if not (_int(at) or isinstance(at, float)):
        return None
    return HeadsRecord(chain, block, head, blocks, transfers, float(at))


class ActivityView(TopicFold):
    """In-memory fold of the heads topic: per chain the latest record and its samples."""

    TOPICS = ("heads",)
    FETCH_MAX_WAIT_MS = 1000  # a record a second; the dashboard does not need it sooner

    def __init__(self, s: Settings) -> None:
        super().__init__(s)
        self.latest: dict[str, HeadsRecord] = {}
        self.samples: dict[str, deque[HeadsSample]] = {}

    def apply(self, topic: str, key: bytes | None, value: bytes | None, ts_ms: int) -> None:
        """Fold one heads record; a tombstone forgets the chain of its key."""
        data = parsed(value)
        if data is UNREADABLE:
            return
        if data is None:
            name = key.decode(errors="replace") if key else ""
            self.latest.pop(name, None)
            self.samples.pop(name, None)
            return
        rec = heads_record(data)
        if rec is None:
            return
        self.latest[rec.chain] = rec
        kept = self.samples.get(rec.chain)
        if kept is None:
            kept = self.samples[rec.chain] = deque(maxlen=KEEP_SAMPLES)
        kept.append(HeadsSample(rec.at, rec.blocks_total, rec.transfers_total))
        while kept[0].at < rec.at - KEEP_S:
            kept.popleft()

    def chains(self, now: float) -> list[ChainActivity]:
        """Every chain heard of, by name: its latest record and rates over the last minute."""
        out: list[ChainActivity] = []
        for name in sorted(self.latest):
            rec = self.latest[name]
            blocks_pm, transfers_pm = chain_rates(self.samples.get(name, ()), now)
            out.append(
                ChainActivity(
                    chain=name,
                    block=rec.block,
                    node_head=rec.node_head,
                    lag=rec.node_head - rec.block if rec.node_head is not None else None,
                    blocks_per_min=blocks_pm,
                    transfers_per_min=transfers_pm,
                    age_s=max(0.0, now - rec.at),
                )
            )
        return out
