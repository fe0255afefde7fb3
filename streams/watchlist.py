"""Watch updates: what changes in the watch table when a monitor is created, changed or deleted."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from streams.match import partition_for
from streams.records import MonitorCfg


def monitor_cfg(monitor: dict[str, Any]) -> MonitorCfg:
    """The part of a monitor the tracker needs (no address list)."""
    return MonitorCfg(
        id=monitor["id"],
        chain=monitor["chain"],
        assets=list(monitor["assets"]),
        tokens=list(monitor["tokens"]),
        direction=monitor["direction"],
        min_amount=monitor["min_amount"],
        confirmations=int(monitor["confirmations"]),
        notify=monitor["notify"],
        active=bool(monitor["active"]),
        wallet_ids=list(monitor.get("wallet_ids") or []),
        webhook=monitor.get("webhook"),
        retry=monitor.get("retry"),
        handler=monitor.get("handler"),
    )


# Addresses one watch message carries at most: about 600 KB of JSON, under the broker's
# default 1 MB message limit however large the list is.
WATCH_CHUNK = 10_000


def watch_updates(
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    partitions: int,
    chunk: int = WATCH_CHUNK,
    with_cfg: bool = True,
) -> list[dict[str, Any]]:
    """Messages for the transfers topic, in order: the monitor's config for every partition
    (unless `with_cfg` is false: a chunk of a list has none), then per partition the
    addresses added and removed, at most `chunk` of them a message. Each carries its
    `partition`."""
    mid = (new or old or {}).get("id")
    out: list[dict[str, Any]] = []
    cfg = monitor_cfg(new) if new and with_cfg else None
    for p in range(partitions if with_cfg else 0):
        out.append({"t": "cfg", "id": mid, "cfg": cfg, "partition": p})
    old_keys = {(old["chain"], a) for a in old.get("addresses", [])} if old else set()
    new_keys = {(new["chain"], a) for a in new.get("addresses", [])} if new else set()
    per: dict[int, dict[str, list[list[str]]]] = {}
    for chain, a in sorted(new_keys - old_keys):
        per.setdefault(partition_for(chain, a, partitions), {"add": [], "remove": []})[
            "add"
        ].append([chain, a])
    for chain, a in sorted(old_keys - new_keys):
        per.setdefault(partition_for(chain, a, partitions), {"add": [], "remove": []})[
            "remove"
        ].append([chain, a])
    for p, ch in sorted(per.items()):
        # Added and removed are disjoint, so their chunks may be applied in any order.
        for side, other in (("add", "remove"), ("remove", "add")):
            keys = ch[side]
            for i in range(0, len(keys), chunk):
                out.append(
                    {"t": "watch", "id": mid, "partition": p, side: keys[i : i + chunk], other: []}
                )
    return out


def monitor_digest(monitor: dict[str, Any] | None) -> str | None:
    """A fingerprint of one version of a monitor (None for a deleted one)."""
    if monitor is None:
        return None
    return hashlib.sha256(orjson.dumps(monitor, option=orjson.OPT_SORT_KEYS)).hexdigest()
