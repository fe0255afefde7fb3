"""watchlist.watch_updates: cfg to every partition first, then per-partition adds/removes."""

from __future__ import annotations

from typing import Any

from streams.match import partition_for
from streams.watchlist import monitor_cfg, monitor_digest, watch_updates

P = 8
ADDRS = [f"0x{i:040x}" for i in range(1, 30)]


def monitor(addresses: list[str], **kw: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "id": "mon_a",
        "name": "",
        "chain": "local",
        "addresses": addresses,
        "wallet_ids": [],
        "assets": ["native", "erc20"],
        "tokens": [],
        "direction": "in",
        "min_amount": "0",
        "confirmations": 3,
        "notify": "threshold",
        "start_block": None,
        "webhook": {"url": "https://example.com/hook", "secret": None},
        "retry": None,
        "active": True,
    }
    m.update(kw)
    return m


def split(msgs: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    kinds = [x["t"] for x in msgs]
    n_cfg = kinds.count("cfg")
    assert kinds == ["cfg"] * n_cfg + ["watch"] * (len(kinds) - n_cfg), "cfg must come first"
    return msgs[:n_cfg], msgs[n_cfg:]


def adds(watch: list[dict]) -> set[tuple[int, str]]:
    return {(w["partition"], a) for w in watch for _, a in w["add"]}


def removes(watch: list[dict]) -> set[tuple[int, str]]:
    return {(w["partition"], a) for w in watch for _, a in w["remove"]}


def test_create() -> None:
    new = monitor(ADDRS[:10])
    cfgs, watch = split(watch_updates(None, new, P))
    assert [c["partition"] for c in cfgs] == list(range(P))
    assert all(c["id"] == "mon_a" and c["cfg"] == monitor_cfg(new) for c in cfgs)
    assert adds(watch) == {(partition_for("local", a, P), a) for a in ADDRS[:10]}
    assert removes(watch) == set()
    for w in watch:
        assert w["id"] == "mon_a"
        assert all(chain == "local" for chain, _ in w["add"])
        assert all(partition_for("local", a, P) == w["partition"] for _, a in w["add"])
    parts = [w["partition"] for w in watch]
    assert parts == sorted(set(parts))  # one message per partition, in order


def test_cfg_has_no_address_list() -> None:
    cfg = monitor_cfg(monitor(ADDRS))
    assert "addresses" not in cfg
    assert cfg == {
        "id": "mon_a",
        "chain": "local",
        "assets": ["native", "erc20"],
        "tokens": [],
        "direction": "in",
        "min_amount": "0",
        "confirmations": 3,
        "notify": "threshold",
        "active": True,
        "wallet_ids": [],
        "webhook": {"url": "https://example.com/hook", "secret": None},
        "retry": None,
        "handler": None,
    }


def test_change_adds_and_removes_only_the_difference() -> None:
    old, new = monitor(ADDRS[:10]), monitor(ADDRS[5:15], direction="both")
    cfgs, watch = split(watch_updates(old, new, P))
    assert len(cfgs) == P and all(c["cfg"]["direction"] == "both" for c in cfgs)
    assert adds(watch) == {(partition_for("local", a, P), a) for a in ADDRS[10:15]}
    assert removes(watch) == {(partition_for("local", a, P), a) for a in ADDRS[:5]}


def test_change_without_address_change_sends_only_cfg() -> None:
    old, new = monitor(ADDRS[:3]), monitor(ADDRS[:3], active=False)
    cfgs, watch = split(watch_updates(old, new, P))
    assert watch == []
    assert all(c["cfg"]["active"] is False for c in cfgs)


def test_delete_removes_everything() -> None:
    old = monitor(ADDRS[:10])
    cfgs, watch = split(watch_updates(old, None, P))
    assert [(c["partition"], c["id"], c["cfg"]) for c in cfgs] == [
        (p, "mon_a", None) for p in range(P)
    ]
    assert removes(watch) == {(partition_for("local", a, P), a) for a in ADDRS[:10]}
    assert adds(watch) == set()


def test_one_partition() -> None:
    cfgs, watch = split(watch_updates(None, monitor(ADDRS[:4]), 1))
    assert len(cfgs) == 1 and len(watch) == 1
    assert watch[0]["partition"] == 0 and len(watch[0]["add"]) == 4


def test_digest() -> None:
    a = monitor(ADDRS[:2])
    assert monitor_digest(None) is None
    assert monitor_digest(a) == monitor_digest(dict(reversed(list(a.items()))))
    assert monitor_digest(a) != monitor_digest(monitor(ADDRS[:2], active=False))


def test_large_changes_travel_in_chunks_under_the_broker_limit() -> None:
    import orjson

    many = [f"0x{i:040x}" for i in range(1, 2_001)]
    old, new = monitor(many[:500]), monitor(many[250:])
    _, watch = split(watch_updates(old, new, 2, chunk=300))
    assert all(len(w["add"]) + len(w["remove"]) <= 300 for w in watch)
    assert adds(watch) == {(partition_for("local", a, 2), a) for a in many[500:]}
    assert removes(watch) == {(partition_for("local", a, 2), a) for a in many[:250]}
    big = monitor([f"0x{i:040x}" for i in range(1, 100_001)])
    _, watch = split(watch_updates(None, big, 4))
    assert max(len(orjson.dumps(w)) for w in watch) < 1_000_000
