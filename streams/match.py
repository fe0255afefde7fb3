"""Route transfers to partitions by watched address, and match them against monitors."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from streams.partition import owner_partition
from streams.records import Match, MonitorCfg, Transfer


def watch_key(chain: str, address: str) -> str:
    """Key of the watch table and of the transfers stream: chain:address (lower-case)."""
    return f"{chain}:{address}"


def partition_for(chain: str, address: str, partitions: int) -> int:
    """The partition that owns chain:address. Stable across processes and restarts."""
    return owner_partition(watch_key(chain, address), partitions)


def route(chain: str, transfers: Iterable[Transfer], partitions: int) -> dict[int, list[Match]]:
    """Group both sides of every transfer by the partition that owns the address."""
    out: dict[int, list[Match]] = {}
    for t in transfers:
        sides: tuple[tuple[str, Literal["in", "out"]], ...] = (
            (t["to"], "in"),
            (t["sender"], "out"),
        )
        for address, side in sides:
            p = partition_for(chain, address, partitions)
            out.setdefault(p, []).append(Match(address=address, side=side, transfer=t))
    return out


def monitor_accepts(cfg: MonitorCfg, side: str, t: Transfer) -> bool:
    """Does this monitor want this transfer on this side? (assets, tokens, direction, amount)"""
    if not cfg["active"]:
        return False
    if cfg["direction"] != "both" and cfg["direction"] != side:
        return False
    kind = t["asset"]["kind"]
    if kind not in cfg["assets"]:
        return False
    if kind != "native" and cfg["tokens"] and t["asset"]["contract"] not in cfg["tokens"]:
        return False
    return int(t["amount"]) >= int(cfg["min_amount"])


def match(
    items: Iterable[Match],
    monitors_for: Callable[[Match], Iterable[str]],
    cfg_for: Callable[[str], MonitorCfg | None],
) -> list[tuple[MonitorCfg, Match]]:
    """Pairs of (monitor, routed transfer) that the monitors of each address accept."""
    out: list[tuple[MonitorCfg, Match]] = []
    for m in items:
        for mid in monitors_for(m):
            cfg = cfg_for(mid)
            if cfg is not None and monitor_accepts(cfg, m["side"], m["transfer"]):
                out.append((cfg, m))
    return out
