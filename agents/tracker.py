"""Matcher and tracker: one stream per transfers partition carries watch updates, monitor
configs, blocks (with their routed transfers) and reorg markers, in the order they happened."""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any, cast

import orjson

from core import metrics
from core.publish import Message
from faust_app import app, publisher, settings
from faust_app.acks import acked_events
from faust_app.tables import (
    apply,
    monitor_cfg_table,
    owners_table,
    tracker_entries_table,
    tracker_table,
    wallet_monitors_table,
    watch_lists_table,
)
from faust_app.topics import transfers_topic
from streams.deliveryjob import delivery_job, pack_jobs, withdrawal_jobs
from streams.match import match, watch_key
from streams.monitorlist import label_monitor
from streams.records import Match, MonitorCfg, Owner
from streams.segments import Segments
from streams.tracker import (
    ChainState,
    Emit,
    Entry,
    empty_state,
    on_backfill,
    on_block,
    on_reorg,
)
from streams.trackerplan import (
    cfg_key,
    ended_by_age,
    entries_prefix,
    owner_key,
    plan_cfg,
    plan_owner,
    plan_watch,
    state_key,
    state_writes,
    wallet_key,
    watch_list_key,
)
from streams.watchindex import WatchIndex

logger = logging.getLogger(__name__)


class PartitionView:
    """Reads of the tables for the partition of the message being processed."""

    def __init__(self, partition: int) -> None:
        self.p = partition

    def cfg(self, mid: str) -> MonitorCfg | None:
        key = (self.p, mid)
        if key not in _cfgs:
            raw = monitor_cfg_table.get(cfg_key(self.p, mid))
            _cfgs[key] = cast(MonitorCfg, orjson.loads(raw)) if raw else None
        return _cfgs[key]

    @staticmethod
    def owner(chain: str, address: str) -> Owner | None:
        raw = owners_table.get(owner_key(chain, address))
        return cast(Owner, orjson.loads(raw)) if raw else None

    def monitors(self, chain: str, m: Match) -> list[str]:
        """Monitors of the address itself (in a monitor's own list or in a chunk of it),
        and of the wallet the address belongs to. (A match counts only on the monitor's
        chain, which a chunk naming another chain cannot change: see _fold.)"""
        ids: list[str] = []
        for label in watch_index_for(self.p).monitors(self.p, watch_key(chain, m["address"])):
            mid = label_monitor(label)
            if mid not in ids:
                ids.append(mid)
        owner = m.get("owner")
        if owner is not None:
            raw_w = wallet_monitors_table.get(wallet_key(self.p, owner["wallet_id"]))
            ids += [i for i in (orjson.loads(raw_w) if raw_w else []) if i not in ids]
        return ids

    def with_owners(self, chain: str, items: list[Match]) -> list[Match]:
        """Items whose address was derived from a wallet carry its owner."""
        out: list[Match] = []
        for m in items:
            owner = self.owner(chain, m["address"])
            out.append({**m, "owner": owner} if owner else m)
        return out


watch_index = WatchIndex()


def watch_index_for(p: int) -> WatchIndex:
    """The index with partition p built (from the watch_lists table) if it was not yet."""
    if not watch_index.has(p):
        prefix = f"{p}:".encode()
        watch_index.build(
            p,
            (
                (k[len(prefix) :].decode(), orjson.loads(v))
                for k, v in watch_lists_table.items()
                if k.startswith(prefix)
            ),
        )
    return watch_index


@app.on_partitions_revoked.connect  # type: ignore[arg-type]
async def _forget_index(sender: Any, *args: Any, **kwargs: Any) -> None:
    """Partitions move on a rebalance: rebuild indices from the tables when next needed."""
    watch_index.forget()
    _states.clear()
    _segments.clear()
    _cfgs.clear()


def _apply_watch(p: int, msg: dict[str, Any]) -> None:
    """One monitor's addresses added and removed in this partition (table and index)."""
    plan = plan_watch(p, msg, watch_lists_table.get(watch_list_key(p, str(msg["id"]))))
    watch_index_for(p).update(p, plan.mid, plan.added, plan.removed)
    apply(plan.writes)


def _apply_cfg(p: int, msg: dict[str, Any]) -> None:
    """Store a monitor's config and keep the wallet → monitors index of this partition."""
    mid = str(msg["id"])
    apply(plan_cfg(p, msg, monitor_cfg_table.get(cfg_key(p, mid)), wallet_monitors_table.get))
    _cfgs.pop((p, mid), None)


_states: dict[tuple[int, str], ChainState] = {}
_segments: dict[tuple[int, str], Segments] = {}
_cfgs: dict[tuple[int, str], MonitorCfg | None] = {}  # (partition, monitor id), read through


def _load_state(p: int, chain: str) -> ChainState:
    """The chain's state in partition p: cached; on first use read from the tables (heads and
    recent reverts in one record, the pending entries in segments)."""
    st = _states.get((p, chain))
    if st is None:
        raw = tracker_table.get(state_key(p, chain))
        st = cast(ChainState, orjson.loads(raw)) if raw else empty_state()
        prefix = entries_prefix(p, chain)
        segs = _segments[(p, chain)] = Segments()
        st["pending"] = segs.load(
            (k[len(prefix) :].decode(), orjson.loads(v))
            for k, v in tracker_entries_table.items()
            if k.startswith(prefix)
        )
        _states[(p, chain)] = st
    return st


def _drop_state(p: int, chain: str) -> None:
    _states.pop((p, chain), None)
    _segments.pop((p, chain), None)


def _save_state(
    p: int, chain: str, st: ChainState, before: dict[str, Entry], finality_depth: int | None
) -> None:
    """Write what changed: the segments of entries that came and went, and the small heads
    record."""
    plan = _segments[(p, chain)].plan(st["pending"], before, ended_by_age(st, finality_depth))
    apply(state_writes(p, chain, st, plan))


async def _emit(emits: list[Emit]) -> None:
    if not emits:
        return
    events: list[Message] = []
    jobs: list[tuple[str, bytes]] = []
    for ev, cfg in emits:
        address = ev["to"] if ev["direction"] == "in" else ev["from"]
        events.append(Message("events", address.encode(), orjson.dumps(ev)))
        job = delivery_job(ev, cfg)
        if job is not None:
            jobs.append((cfg["id"], orjson.dumps(job)))
        metrics.EVENTS.labels(type=ev["type"]).inc()
    await publisher.publish_buffered(events)
    packed = pack_jobs(jobs, settings.partitions)
    await publisher.publish_buffered(Message("deliveries", None, v, p) for p, v in packed)


async def _emit_withdrawal(p: int, rec: dict[str, Any]) -> None:
    """A withdrawal event from the withdrawals agent: to the events topic (keyed by
    withdrawal id) and to the webhooks of the monitors whose wallet_ids hold its wallet."""
    ev = rec["event"]
    raw = wallet_monitors_table.get(wallet_key(p, str(ev["wallet_id"])))
    view = PartitionView(p)
    cfgs = [c for c in (view.cfg(m) for m in (orjson.loads(raw) if raw else [])) if c]
    jobs = [(mid, orjson.dumps(job)) for mid, job in withdrawal_jobs(ev, cfgs)]
    metrics.EVENTS.labels(type=ev["type"]).inc()
    await publisher.publish_buffered(
        [Message("events", str(ev["withdrawal_id"]).encode(), orjson.dumps(ev))]
    )
    packed = pack_jobs(jobs, settings.partitions)
    await publisher.publish_buffered(Message("deliveries", None, v, p) for p, v in packed)


_unmatched_said: dict[int, float] = {}  # partition → when it was last said


def _note_unmatched(
    p: int, chain: str, number: int, items: list[Match], view: PartitionView
) -> None:
    """Decode routes only watched addresses, so a routed transfer no monitor here accepts is
    a filtered asset, a monitor removed since (decode's filter keeps its addresses until the
    worker restarts), or an index that disagrees with decode's filter: counted, and said at
    most once a minute per partition."""
    metrics.UNMATCHED_ROUTED.inc(len(items))
    now = time.monotonic()
    if now - _unmatched_said.get(p, -60.0) < 60.0:
        return
    _unmatched_said[p] = now
    found = sorted({f"{m['address']} ({len(view.monitors(chain, m))} monitors)" for m in items})
    logger.info(
        "partition %d block %d: %d routed transfer(s) matched no monitor: %s",
        p,
        number,
        len(items),
        ", ".join(found[:5]),
    )


def _fold(p: int, kind: str, msg: dict[str, Any], state: ChainState) -> list[Emit]:
    """Fold one block, backfilled block or reorg marker into the chain's state."""
    view = PartitionView(p)
    chain, chain_id = str(msg["chain"]), int(msg["chain_id"])
    if kind == "reorg":
        return on_reorg(
            state,
            chain=chain,
            chain_id=chain_id,
            marker_id=str(msg["id"]),
            fork_number=int(msg["fork_number"]),
            orphaned=[(int(o["number"]), str(o["hash"])) for o in msg["orphaned"]],
            cfg_for=view.cfg,
        )
    items = view.with_owners(chain, cast(list[Match], msg.get("items", [])))
    only = set(msg.get("monitors") or [])
    matched = [
        (c, m)
        for c, m in match(items, partial(view.monitors, chain), view.cfg)
        if c["chain"] == chain and (not only or c["id"] in only)
    ]
    number, block_hash, depth = int(msg["number"]), str(msg["hash"]), int(msg["finality_depth"])
    if items and not matched and not only:
        _note_unmatched(p, chain, number, items, view)
    if kind == "backfill":
        return on_backfill(
            state,
            chain=chain,
            chain_id=chain_id,
            number=number,
            block_hash=block_hash,
            finality_depth=depth,
            matches=matched,
        )
    return on_block(
        state,
        chain=chain,
        chain_id=chain_id,
        number=number,
        block_hash=block_hash,
        finality_depth=depth,
        matches=matched,
        cfg_for=view.cfg,
    )


async def _fold_records(p: int, records: list[Any]) -> None:
    """Fold a message's records in order; emit their events, then save the chain states
    they changed (once per message, not per block). A failure drops the cached states."""
    before: dict[str, dict[str, Entry]] = {}  # chain → its pending entries when this began
    finality: dict[str, int] = {}  # chain → finality depth its block records carry
    emits: list[Emit] = []
    try:
        for rec in records:
            kind = rec.get("t") if isinstance(rec, dict) else None
            if kind == "cfg":
                _apply_cfg(p, rec)
            elif kind == "owner":
                apply([plan_owner(rec)])
            elif kind == "watch":
                _apply_watch(p, rec)
            elif kind == "wevent":
                await _emit_withdrawal(p, rec)
            elif kind in ("block", "reorg", "backfill"):
                chain = str(rec["chain"])
                state = _load_state(p, chain)
                before.setdefault(chain, dict(state["pending"]))
                if "finality_depth" in rec:
                    finality[chain] = int(rec["finality_depth"])
                emits += _fold(p, str(kind), rec, state)
            else:
                logger.error("unknown transfers record %r skipped", kind)
        await _emit(emits)
        for chain, entries in before.items():
            _save_state(p, chain, _states[(p, chain)], entries, finality.get(chain))
    except BaseException:
        for chain in before:  # the tables, not a half-folded cache, count
            _drop_state(p, chain)
        raise


@app.agent(transfers_topic)
async def track(stream: Any) -> None:
    """Fold each partition's messages into its tables; emit events before saving state.

    A message is one record (watch, cfg, owner) or a list of them (a batch of blocks)."""
    async for event in acked_events(stream):
        try:
            msg = orjson.loads(event.value)
        except orjson.JSONDecodeError as exc:
            logger.error("unreadable transfers message skipped: %s", exc)
            continue
        await _fold_records(event.message.partition, msg if isinstance(msg, list) else [msg])
