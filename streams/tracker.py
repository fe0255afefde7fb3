"""The confirmation fold: pending transfers of one chain in one partition, folded over heads.

State is a plain JSON-able dict so it lives in a table as one value. Each step (on_block,
on_reorg, on_backfill) is a deterministic fold: it updates the given state in place and
returns the events the message causes, depending only on the state, the message and the
monitor configs it is handed; it does no I/O. It updates in place rather than copying
because a block touches a few of many pending entries; a caller that needs the state as it
was copies that part first, and drops the state if a step fails. Replaying a message
whose effect is already in the state yields the same events again (same ids), so a crash
between the table write and the offset commit never loses an event: at worst a receiver
sees a duplicate it can drop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NotRequired, TypedDict

from streams.events import EventType, build_event
from streams.records import Match, MonitorCfg, Owner, Transfer


class Entry(TypedDict):
    """One transfer watched by one monitor on one side, until it is final."""

    monitor_id: str
    side: Literal["in", "out"]
    address: str
    required: int
    transfer: Transfer
    owner: NotRequired[Owner | None]
    # The monitor asked for every confirmation when the transfer was seen. Entries without
    # it (written before it existed) are checked on every head.
    every: NotRequired[bool]


class Tombstone(TypedDict):
    """An entry reverted by a reorg marker, kept so a replayed marker re-emits its event."""

    marker: str
    at: int
    entry: Entry


class ChainState(TypedDict):
    """Per chain and partition: recent heads (ascending) and pending entries."""

    heads: list[list[Any]]
    pending: dict[str, Entry]
    reverted: dict[str, Tombstone]
    # Derived, never stored: which pending entries the next heads concern (see DueIndex).
    due: NotRequired[DueIndex]


class DueIndex(TypedDict):
    """The pending entries by the head at which they next owe something (`_due`), valid
    while the heads only move on from `head`: a block then looks at the entries due in the
    heads it passes instead of at every pending entry. Keys of entries that ended since are
    skipped when their head comes."""

    head: int
    at: dict[str, list[str]]  # str(head) → entry keys due there (confirmation or end)
    hot: list[str]  # entries due at every head (every confirmation, not yet confirmed)


Emit = tuple[dict[str, Any], MonitorCfg]


def empty_state() -> ChainState:
    """A chain state with nothing in it."""
    return ChainState(heads=[], pending={}, reverted={})


def new_entry(cfg: MonitorCfg, m: Match) -> Entry:
    """A pending entry for a transfer the monitor matched, with the monitor's count."""
    return Entry(
        monitor_id=cfg["id"],
        side=m["side"],
        address=m["address"],
        required=cfg["confirmations"],
        transfer=m["transfer"],
        owner=m.get("owner"),
        every=cfg["notify"] == "every_confirmation",
    )


def entry_key(e: Entry) -> str:
    """Pending entries are unique per transfer, block, monitor and side."""
    t = e["transfer"]
    return f"{t['key']}|{t['block_hash']}|{e['monitor_id']}|{e['side']}"


def _event(
    etype: EventType, e: Entry, chain: str, chain_id: int, confirmations: int
) -> dict[str, Any]:
    owner = e.get("owner")
    return build_event(
        etype=etype,
        transfer=e["transfer"],
        monitor_id=e["monitor_id"],
        side=e["side"],
        chain=chain,
        chain_id=chain_id,
        confirmations=confirmations,
        required=e["required"],
        wallet_id=owner["wallet_id"] if owner else None,
        user_ref=owner["user_ref"] if owner else None,
    )


def transitions(
    e: Entry, prev_head: int, head: int, every_confirmation: bool
) -> list[tuple[EventType, int]]:
    """Events an entry owes when the head moves from prev_head to head (pure)."""
    b = e["transfer"]["block_number"]
    before, now = prev_head - b + 1, head - b + 1
    req = e["required"]
    out: list[tuple[EventType, int]] = []
    if now < 1 or now <= before:
        return out
    if before < 1 and now < req:
        out.append(("transfer.seen", now))
    elif every_confirmation and before >= 1 and now < req:
        out.append(("transfer.confirming", now))
    if before < req <= now:
        out.append(("transfer.confirmed", now))
    return out


def on_block(
    state: ChainState,
    *,
    chain: str,
    chain_id: int,
    number: int,
    block_hash: str,
    finality_depth: int,
    matches: list[tuple[MonitorCfg, Match]],
    cfg_for: Callable[[str], MonitorCfg | None],
) -> list[Emit]:
    """Fold one block (its matched transfers and its head tick) into state; return events."""
    heads = state["heads"]
    last = heads[-1][0] if heads else None
    idx = None
    if last is not None and last >= number:  # a replay, or a new block after a fork
        idx = next((i for i, h in enumerate(heads) if h[0] == number and h[1] == block_hash), None)
    if idx is not None:  # a replay of a block already folded: recompute its transition
        prev = heads[idx - 1][0] if idx > 0 else number - 1
    else:
        while heads and heads[-1][0] >= number:  # new canonical block after a fork
            heads.pop()
        prev = heads[-1][0] if heads else number - 1
        heads.append([number, block_hash])
        del heads[: max(0, len(heads) - (finality_depth + 1))]

    pending = state["pending"]
    added: list[str] = []
    for cfg, m in matches:
        e = new_entry(cfg, m)
        key = entry_key(e)
        if key not in pending:
            pending[key] = e
            added.append(key)

    due = state.pop("due", None)
    indexed = idx is None and due is not None and due["head"] == prev
    if indexed and due is not None:
        look = set(added)
        look.update(due["hot"])
        for h in _passed(due["at"], prev, number):
            look.update(due["at"].pop(h))
        keys = [k for k in pending if k in look] if look else []
    else:
        keys = list(pending)
    out: list[Emit] = []
    for key in keys:
        e = pending[key]
        b = e["transfer"]["block_number"]
        if b > number:
            continue  # from a later block: this is a replay of an earlier one
        if not _due(e, b, prev, number, finality_depth, idx is not None):
            continue
        current = cfg_for(e["monitor_id"])
        if current is None or not current["active"]:
            del pending[key]
            continue
        every = current["notify"] == "every_confirmation"
        for etype, confs in transitions(e, prev, number, every):
            out.append((_event(etype, e, chain, chain_id, confs), current))
        # Kept past finality until its confirming block has left the heads window, so a
        # replay of any block still recognised as a replay re-emits its events.
        if idx is None and past_finality(e, number, finality_depth):
            del pending[key]
    if indexed and due is not None:
        due["hot"], due["head"] = [], number
        for key in keys:  # every key looked at (the hot ones among them) is filed again
            if key in pending:
                _place(due, key, pending[key], number, finality_depth)
        state["due"] = due
    elif idx is None:
        state["due"] = _index(pending, number, finality_depth)
    elif due is not None and not added:
        state["due"] = due  # a replay that only looked: what was due is due as before
    _drop_old_tombstones(state, number, finality_depth)
    return out


def _passed(at: dict[str, list[str]], prev: int, head: int) -> list[str]:
    """The index's heads in (prev, head]."""
    if head - prev <= 2 * len(at):
        return [str(h) for h in range(prev + 1, head + 1) if str(h) in at]
    return [h for h in at if prev < int(h) <= head]


def _place(due: DueIndex, key: str, e: Entry, head: int, finality_depth: int) -> None:
    """File an entry looked at, at `head`, under the next head it owes something at."""
    b, req = e["transfer"]["block_number"], e["required"]
    confirm = b + req - 1
    if b > head or (confirm > head and e.get("every", True)):
        due["hot"].append(key)
        return
    at = confirm if confirm > head else b + req + finality_depth
    due["at"].setdefault(str(at), []).append(key)


def _index(pending: dict[str, Entry], head: int, finality_depth: int) -> DueIndex:
    """An index of every pending entry, looked at at `head`."""
    due = DueIndex(head=head, at={}, hot=[])
    for key, e in pending.items():
        _place(due, key, e, head, finality_depth)
    return due


def _drop_old_tombstones(state: ChainState, number: int, finality_depth: int) -> None:
    if not state["reverted"]:
        return
    for key, t in list(state["reverted"].items()):
        if number - t["at"] > finality_depth:
            del state["reverted"][key]


def _due(e: Entry, b: int, prev: int, head: int, finality_depth: int, replay: bool) -> bool:
    """Does the head moving prev → head concern this entry (an event, or its end)? Most
    pending entries wait for their confirming head; this keeps a block's cost to the few
    that move instead of a monitor lookup per pending entry."""
    req = e["required"]
    if b > prev or prev - b + 1 < req <= head - b + 1:
        return True  # seen or confirmed in this step
    if e.get("every", True) and prev - b + 1 < req:
        return True  # a transfer.confirming step
    return not replay and past_finality(e, head, finality_depth)


def past_finality(e: Entry, head: int, finality_depth: int) -> bool:
    """Is the entry done with at this head: deeper than finality plus its confirmations?"""
    return head - e["transfer"]["block_number"] + 1 > finality_depth + e["required"]


def on_reorg(
    state: ChainState,
    *,
    chain: str,
    chain_id: int,
    marker_id: str,
    fork_number: int,
    orphaned: list[tuple[int, str]],
    cfg_for: Callable[[str], MonitorCfg | None],
) -> list[Emit]:
    """Revert every pending entry whose block was orphaned; trim heads to the fork point."""
    gone = {h for _, h in orphaned}
    state.pop("due", None)
    state["heads"] = [h for h in state["heads"] if h[0] <= fork_number and h[1] not in gone]
    out: list[Emit] = []
    for key, e in list(state["pending"].items()):
        if e["transfer"]["block_hash"] in gone:
            del state["pending"][key]
            state["reverted"][key] = Tombstone(marker=marker_id, at=fork_number, entry=e)
    for t in state["reverted"].values():
        if t["marker"] != marker_id:
            continue
        cfg = cfg_for(t["entry"]["monitor_id"])
        if cfg is not None:
            out.append((_event("transfer.reverted", t["entry"], chain, chain_id, 0), cfg))
    return out


def on_backfill(
    state: ChainState,
    *,
    chain: str,
    chain_id: int,
    number: int,
    block_hash: str,
    finality_depth: int,
    matches: list[tuple[MonitorCfg, Match]],
) -> list[Emit]:
    """Fold a re-scanned (older) block: its matches get the event their depth calls for now.

    The head does not move. A block this partition has not reached yet is left to the live
    stream; one that disagrees with the hash we hold for its number is not canonical. Ids
    are the live ones, so a re-scan of what was already sent only repeats ids.
    """
    heads = state["heads"]
    if not heads or number > heads[-1][0]:
        return []
    known = {int(n): str(h) for n, h in heads}
    if known.get(number, block_hash) != block_hash:
        return []
    head = int(heads[-1][0])
    state.pop("due", None)  # entries below the head come in: look at every one next time
    out: list[Emit] = []
    for cfg, m in matches:
        e = new_entry(cfg, m)
        confs = head - number + 1
        if confs <= finality_depth:
            state["pending"].setdefault(entry_key(e), e)
        etype: EventType = "transfer.seen" if confs < e["required"] else "transfer.confirmed"
        out.append((_event(etype, e, chain, chain_id, confs), cfg))
    return out
