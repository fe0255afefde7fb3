"""streams.monitorplan: the publish steps and table write of one monitors-topic record."""

from __future__ import annotations

from typing import Any

import orjson

from core.publish import Message
from streams.match import partition_for
from streams.monitorplan import plan_monitor
from streams.tablewrites import MONITORS, TableWrite
from streams.watchlist import monitor_digest
from tests.unit.test_watchlist import monitor as watchlist_monitor

P = 4
KEY = b"mon_a"
A1 = "0x" + "a1" * 20
A2 = "0x" + "a2" * 20
A3 = "0x" + "a3" * 20


def monitor(addresses: tuple[str, ...] = (A1, A2), **kw: Any) -> dict[str, Any]:
    return watchlist_monitor(list(addresses), **kw)


CFG_FIELDS = (
    "id",
    "chain",
    "assets",
    "tokens",
    "direction",
    "min_amount",
    "confirmations",
    "notify",
    "active",
    "wallet_ids",
    "webhook",
    "retry",
    "handler",
)


def cfg_of(m: dict[str, Any]) -> dict[str, Any]:
    """What the tracker gets of a monitor: everything but its addresses and start block."""
    return {k: m.get(k) for k in CFG_FIELDS}


def decoded(step: list[Message]) -> list[tuple[str, bytes | None, Any, int | None]]:
    return [(m.topic, m.key, orjson.loads(m.value or b"null"), m.partition) for m in step]


def steps(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[list[Any]]:
    """The plan's steps, each message decoded."""
    return [decoded(s) for s in plan_monitor(KEY, old, new, P).steps]


def cfgs(cfg: dict[str, Any] | None) -> list[tuple[str, bytes, Any, int]]:
    return [
        ("transfers", KEY, {"t": "cfg", "id": "mon_a", "cfg": cfg, "partition": p}, p)
        for p in range(P)
    ]


def watches(chain: str, add: list[str], remove: list[str]) -> list[tuple[str, bytes, Any, int]]:
    """Watch records per partition, as the tracker expects them (sorted by partition)."""
    per: dict[int, dict[str, list[list[str]]]] = {}
    for a in sorted(add):
        per.setdefault(partition_for(chain, a, P), {"add": [], "remove": []})["add"].append(
            [chain, a]
        )
    for a in sorted(remove):
        per.setdefault(partition_for(chain, a, P), {"add": [], "remove": []})["remove"].append(
            [chain, a]
        )
    return [
        ("transfers", KEY, {"t": "watch", "id": "mon_a", "partition": p, **ch}, p)
        for p, ch in sorted(per.items())
    ]


def markers(chain: str, added: list[str]) -> list[tuple[str, bytes, Any, None]]:
    return [
        ("blocks", chain.encode(), {"type": "watch", "chain": chain, "add": sorted(added)}, None)
    ]


def applied(new: dict[str, Any] | None) -> list[tuple[str, bytes, Any, None]]:
    digest = monitor_digest(new)
    return [("monitors.applied", KEY, {"id": "mon_a", "digest": digest}, None)]


def backfill(chain: str, start: int) -> list[tuple[str, bytes, Any, None]]:
    request = {"chain": chain, "from": start, "to": None, "monitors": ["mon_a"]}
    return [("backfill", chain.encode(), request, None)]


def test_added_monitor_publishes_watch_markers_then_the_ack() -> None:
    new = monitor()
    assert steps(None, new) == [
        cfgs(cfg_of(new)) + watches("local", [A1, A2], []),
        markers("local", [A1, A2]),
        applied(new),
    ]
    assert plan_monitor(KEY, None, new, P).write == TableWrite(MONITORS, KEY, orjson.dumps(new))


def test_added_monitor_with_start_block_requests_a_backfill_before_the_markers() -> None:
    new = monitor(start_block=5)
    assert steps(None, new) == [
        cfgs(cfg_of(new)) + watches("local", [A1, A2], []),
        backfill("local", 5),
        markers("local", [A1, A2]),
        applied(new),
    ]


def test_changed_addresses_send_only_the_difference() -> None:
    old, new = monitor(start_block=5), monitor((A2, A3), start_block=5)
    assert steps(old, new) == [
        cfgs(cfg_of(new)) + watches("local", [A3], [A1]),
        markers("local", [A3]),  # same start_block: no backfill
        applied(new),
    ]


def test_removed_addresses_only_need_no_markers() -> None:
    old, new = monitor(), monitor((A2,))
    assert steps(old, new) == [
        cfgs(cfg_of(new)) + watches("local", [], [A1]),
        applied(new),
    ]


def test_changed_start_block_requests_a_backfill() -> None:
    old, new = monitor(start_block=5), monitor(start_block=2)
    assert steps(old, new) == [cfgs(cfg_of(new)), backfill("local", 2), applied(new)]


def test_changed_chain_removes_every_old_address_then_adds_the_new_ones() -> None:
    old = monitor(start_block=5)
    new = monitor((A1,), chain="other", start_block=5)
    assert steps(old, new) == [
        cfgs(None)
        + watches("local", [], [A1, A2])
        + cfgs(cfg_of(new))
        + watches("other", [A1], []),
        backfill("other", 5),  # same start_block, another chain
        markers("other", [A1]),
        applied(new),
    ]
    assert plan_monitor(KEY, old, new, P).write == TableWrite(MONITORS, KEY, orjson.dumps(new))


def test_removed_monitor_unwatches_acks_and_deletes_the_row() -> None:
    old = monitor(start_block=5)
    assert steps(old, None) == [
        cfgs(None) + watches("local", [], [A1, A2]),
        applied(None),
    ]
    assert plan_monitor(KEY, old, None, P).write == TableWrite(MONITORS, KEY, None)


def test_replayed_record_repeats_configs_and_ack_only() -> None:
    m = monitor(start_block=5)
    assert steps(m, dict(m)) == [cfgs(cfg_of(m)), applied(m)]


def test_many_added_addresses_are_chunked_in_one_step() -> None:
    many = [f"0x{i:040x}" for i in range(5_001)]
    marker_step = plan_monitor(KEY, None, monitor(tuple(many)), P).steps[1]
    assert [m.topic for m in marker_step] == ["blocks", "blocks"]
    chunks = [orjson.loads(m.value or b"") for m in marker_step]
    assert [len(c["add"]) for c in chunks] == [5_000, 1]
    assert chunks[0]["add"] + chunks[1]["add"] == sorted(many)
