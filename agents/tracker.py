"""Matcher and tracker: one stream per transfers partition carries watch updates, monitor
configs, blocks (with their routed transfers) and reorg markers, in the order they happened."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, cast

import orjson

from agents.sending import send_acked
from blockhook import metrics
from faust_app import app
from streams.deliveryjob import delivery_job
from streams.match import match, watch_key
from streams.records import Match, MonitorCfg
from streams.topics import (
    deliveries_topic,
    events_topic,
    monitor_cfg_table,
    tracker_table,
    transfers_topic,
    watch_table,
)
from streams.tracker import ChainState, Emit, empty_state, on_backfill, on_block, on_reorg

logger = logging.getLogger(__name__)


class PartitionView:
    """Reads of the tables for the partition of the message being processed."""

    def __init__(self, partition: int) -> None:
        self.p = partition
        self._cfg: dict[str, MonitorCfg | None] = {}

    def cfg(self, mid: str) -> MonitorCfg | None:
        if mid not in self._cfg:
            raw = monitor_cfg_table.get(f"{self.p}:{mid}".encode())
            self._cfg[mid] = cast(MonitorCfg, orjson.loads(raw)) if raw else None
        return self._cfg[mid]

    @staticmethod
    def monitors(chain: str, address: str) -> list[str]:
        raw = watch_table.get(watch_key(chain, address).encode())
        return cast(list[str], orjson.loads(raw)) if raw else []


def _apply_watch(msg: dict[str, Any]) -> None:
    mid = str(msg["id"])
    for chain, address in msg.get("add", []):
        k = watch_key(chain, address).encode()
        raw = watch_table.get(k)
        ids: list[str] = orjson.loads(raw) if raw else []
        if mid not in ids:
            watch_table[k] = orjson.dumps([*ids, mid])
    for chain, address in msg.get("remove", []):
        k = watch_key(chain, address).encode()
        raw = watch_table.get(k)
        ids = [i for i in (orjson.loads(raw) if raw else []) if i != mid]
        if ids:
            watch_table[k] = orjson.dumps(ids)
        elif raw:
            watch_table.pop(k, None)


def _load_state(p: int, chain: str) -> ChainState:
    raw = tracker_table.get(f"{p}:{chain}".encode())
    return cast(ChainState, orjson.loads(raw)) if raw else empty_state()


async def _emit(emits: list[Emit]) -> None:
    if not emits:
        return
    events: list[tuple[bytes | None, bytes, int | None]] = []
    jobs: list[tuple[bytes | None, bytes, int | None]] = []
    for ev, cfg in emits:
        address = ev["to"] if ev["direction"] == "in" else ev["from"]
        events.append((address.encode(), orjson.dumps(ev), None))
        job = delivery_job(ev, cfg)
        if job is not None:
            jobs.append((cfg["id"].encode(), orjson.dumps(job), None))
        metrics.inc("blockhook_events_total", help="events emitted", type=ev["type"])
    await send_acked(events_topic, events)
    await send_acked(deliveries_topic, jobs)


@app.agent(transfers_topic)
async def track(stream: Any) -> None:
    """Fold each partition's messages into its tables; emit events before saving state."""
    async for event in stream.events():
        p = event.message.partition
        try:
            msg = orjson.loads(event.value)
            kind = msg.get("t")
        except (orjson.JSONDecodeError, AttributeError) as exc:
            logger.error("unreadable transfers message skipped: %s", exc)
            continue
        if kind == "cfg":
            k = f"{p}:{msg['id']}".encode()
            if msg.get("cfg") is None:
                monitor_cfg_table.pop(k, None)
            else:
                monitor_cfg_table[k] = orjson.dumps(msg["cfg"])
        elif kind == "watch":
            _apply_watch(msg)
        elif kind in ("block", "reorg", "backfill"):
            view = PartitionView(p)
            chain = str(msg["chain"])
            state = _load_state(p, chain)
            if kind in ("block", "backfill"):
                items = cast(list[Match], msg.get("items", []))
                matched = match(items, partial(PartitionView.monitors, chain), view.cfg)
                only = set(msg.get("monitors") or [])
                matched = [
                    (c, m)
                    for c, m in matched
                    if c["chain"] == chain and (not only or c["id"] in only)
                ]
            if kind == "backfill":
                emits = on_backfill(
                    state,
                    chain=chain,
                    chain_id=int(msg["chain_id"]),
                    number=int(msg["number"]),
                    block_hash=str(msg["hash"]),
                    finality_depth=int(msg["finality_depth"]),
                    matches=matched,
                )
            elif kind == "block":
                emits = on_block(
                    state,
                    chain=chain,
                    chain_id=int(msg["chain_id"]),
                    number=int(msg["number"]),
                    block_hash=str(msg["hash"]),
                    finality_depth=int(msg["finality_depth"]),
                    matches=matched,
                    cfg_for=view.cfg,
                )
            else:
                emits = on_reorg(
                    state,
                    chain=chain,
                    chain_id=int(msg["chain_id"]),
                    marker_id=str(msg["id"]),
                    fork_number=int(msg["fork_number"]),
                    orphaned=[(int(o["number"]), str(o["hash"])) for o in msg["orphaned"]],
                    cfg_for=view.cfg,
                )
            await _emit(emits)
            tracker_table[f"{p}:{chain}".encode()] = orjson.dumps(state)
        else:
            logger.error("unknown transfers message %r skipped", kind)
