"""The tracker's table writes: what a watch, cfg or owner record changes in its partition's
tables, and what a fold of blocks leaves to store.

Each planner is given the raw values the agent read and returns the writes in the order the
agent applies them. The keys are built here and nowhere else, so the agent's reads and the
planners' writes cannot disagree on them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import orjson

from streams.match import watch_key
from streams.segments import SegmentPlan
from streams.tablewrites import (
    MONITOR_CFG,
    OWNERS,
    TRACKER,
    TRACKER_ENTRIES,
    WALLET_MONITORS,
    WATCH_LISTS,
    Lookup,
    TableWrite,
)
from streams.tracker import ChainState, Entry, past_finality
from streams.watchindex import apply_to_list


def watch_list_key(p: int, mid: str) -> bytes:
    """watch_lists: a monitor's addresses in partition p."""
    return f"{p}:{mid}".encode()


def cfg_key(p: int, mid: str) -> bytes:
    """monitor_cfg: a monitor's config as partition p holds it."""
    return f"{p}:{mid}".encode()


def wallet_key(p: int, wallet_id: str) -> bytes:
    """wallet_monitors: the monitors of a wallet in partition p."""
    return f"{p}:{wallet_id}".encode()


def owner_key(chain: str, address: str) -> bytes:
    """owners: the wallet and user_ref a derived address belongs to."""
    return watch_key(chain, address).encode()


def state_key(p: int, chain: str) -> bytes:
    """tracker: the small per-chain record (heads and recent reverts) of partition p."""
    return f"{p}:{chain}".encode()


def entries_prefix(p: int, chain: str) -> bytes:
    """tracker_entries: the prefix of every segment key of a chain in partition p."""
    return f"{p}:{chain}|".encode()


class WatchPlan(NamedTuple):
    """A monitor's watch keys added and removed in one partition, and the table write."""

    mid: str
    added: list[str]
    removed: list[str]
    writes: list[TableWrite]


def plan_watch(p: int, msg: Mapping[str, Any], raw: bytes | None) -> WatchPlan:
    """A watch record applied to the monitor's stored list `raw` (under watch_list_key)."""
    mid = str(msg["id"])
    added = [watch_key(c, a) for c, a in msg.get("add", [])]
    removed = [watch_key(c, a) for c, a in msg.get("remove", [])]
    keys = apply_to_list(orjson.loads(raw) if raw else [], added, removed)
    k = watch_list_key(p, mid)
    if keys:
        writes = [TableWrite(WATCH_LISTS, k, orjson.dumps(keys))]
    else:
        writes = [TableWrite(WATCH_LISTS, k, None)] if raw else []
    return WatchPlan(mid, added, removed, writes)


def plan_cfg(
    p: int, msg: Mapping[str, Any], raw_old: bytes | None, wallet_monitors: Lookup
) -> list[TableWrite]:
    """A cfg record: the monitor's config (`raw_old` is the stored one, under cfg_key), and
    the wallet → monitors lists of the wallets it gained or lost (read via wallet_monitors).
    """
    mid = str(msg["id"])
    old_w = set(orjson.loads(raw_old).get("wallet_ids") or []) if raw_old else set()
    new_cfg = msg.get("cfg")
    new_w = set(new_cfg.get("wallet_ids") or []) if new_cfg else set()
    writes: list[TableWrite] = []
    for w in sorted(old_w ^ new_w):
        wk = wallet_key(p, w)
        raw = wallet_monitors(wk)
        ids = [i for i in (orjson.loads(raw) if raw else []) if i != mid]
        if w in new_w:
            ids.append(mid)
        if ids:
            writes.append(TableWrite(WALLET_MONITORS, wk, orjson.dumps(ids)))
        elif raw:
            writes.append(TableWrite(WALLET_MONITORS, wk, None))
    k = cfg_key(p, mid)
    if new_cfg is not None:
        writes.append(TableWrite(MONITOR_CFG, k, orjson.dumps(new_cfg)))
    elif raw_old:
        writes.append(TableWrite(MONITOR_CFG, k, None))
    return writes


def plan_owner(msg: Mapping[str, Any]) -> TableWrite:
    """An owner record: whose the derived address is (its wallet and user_ref)."""
    key = owner_key(str(msg["chain"]), str(msg["address"]))
    value = {"wallet_id": msg["wallet_id"], "user_ref": msg["user_ref"]}
    return TableWrite(OWNERS, key, orjson.dumps(value))


def ended_by_age(state: ChainState, finality_depth: int | None) -> Callable[[Entry], bool]:
    """Did a pending entry end because it passed finality at the state's head? (Such an
    entry's segment need not be rewritten: see streams.segments.)"""
    head = int(state["heads"][-1][0]) if state["heads"] else None
    if head is None or finality_depth is None:
        return lambda e: False
    return lambda e: past_finality(e, head, finality_depth)


def state_writes(p: int, chain: str, state: ChainState, plan: SegmentPlan) -> list[TableWrite]:
    """What a fold leaves to store: the segments that changed (`plan`, from the chain's
    Segments), then the small heads record (pending entries live in the segments)."""
    prefix = entries_prefix(p, chain)
    writes = [
        TableWrite(TRACKER_ENTRIES, prefix + sid.encode(), orjson.dumps(entries))
        for sid, entries in plan.write.items()
    ]
    writes += [TableWrite(TRACKER_ENTRIES, prefix + sid.encode(), None) for sid in plan.delete]
    small = {"heads": state["heads"], "pending": {}, "reverted": state["reverted"]}
    writes.append(TableWrite(TRACKER, state_key(p, chain), orjson.dumps(small)))
    return writes
