"""The activity view: heads records folded into each chain's row of the dashboard."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from core.settings import Settings
from views.activity import KEEP_S, ActivityView, ChainActivity

T0 = 1_790_000_000.0
S = Settings()
TOPIC = S.topic("heads")


def heads(chain: str, block: int, at: float, **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "chain": chain,
        "block": block,
        "node_head": block + 2,
        "blocks_total": block,
        "transfers_total": 3 * block,
        "at": at,
    }
    return {**rec, **extra}


def put(v: ActivityView, rec: dict[str, Any] | None, key: str = "local") -> None:
    value = orjson.dumps(rec) if rec is not None else None
    v.apply(TOPIC, key.encode(), value, int(T0 * 1000))


def test_latest_record_and_rates_per_chain_sorted_by_name() -> None:
    v = ActivityView(S)
    for i in range(61):  # a block a second on `local`, one every ten on `base`
        put(v, heads("local", 100 + i, T0 + i))
        put(v, heads("base", 7 + i // 10, T0 + i), "base")
    rows = v.chains(T0 + 60.5)
    assert [r.chain for r in rows] == ["base", "local"]
    base, local = rows
    assert (local.chain, local.block, local.node_head, local.lag) == ("local", 160, 162, 2)
    assert local.blocks_per_min == pytest.approx(60.0)
    assert local.transfers_per_min == pytest.approx(180.0)
    assert local.age_s == pytest.approx(0.5)
    assert isinstance(local, ChainActivity)
    assert base.block == 13 and base.blocks_per_min == pytest.approx(6.0)


def test_unknown_node_head_has_no_lag_and_age_is_never_negative() -> None:
    v = ActivityView(S)
    put(v, heads("local", 5, T0 + 10, node_head=None))
    (row,) = v.chains(T0)
    assert row.node_head is None and row.lag is None
    assert row.age_s == 0.0  # a record from a clock ahead of ours
    assert (row.blocks_per_min, row.transfers_per_min) == (0.0, 0.0)  # one sample


def test_a_restarted_follower_starts_its_rates_over() -> None:
    v = ActivityView(S)
    for i in range(30):
        put(v, heads("local", 1000 + i, T0 + i, blocks_total=900 + i, transfers_total=0))
    for i in range(30, 60):  # another worker took over: its counters start at zero
        put(v, heads("local", 1000 + i, T0 + i, blocks_total=i - 30, transfers_total=i - 30))
    (row,) = v.chains(T0 + 59)
    assert row.block == 1059
    assert row.blocks_per_min == pytest.approx(60.0)
    assert row.transfers_per_min == pytest.approx(60.0)


def test_samples_are_kept_about_ten_minutes_and_bounded() -> None:
    v = ActivityView(S)
    for i in range(2000):
        put(v, heads("local", i, T0 + i))
    kept = v.samples["local"]
    assert kept[-1].at - kept[0].at <= KEEP_S
    assert len(kept) <= KEEP_S + 1
    for _ in range(5000):  # two followers at once, both within the same second
        put(v, heads("local", 1, T0 + 2000))
    assert len(v.samples["local"]) <= 1200


def test_unreadable_and_malformed_records_are_skipped_and_a_tombstone_forgets() -> None:
    v = ActivityView(S)
    put(v, heads("local", 5, T0))
    v.apply(TOPIC, b"local", b"{not json", 0)
    for bad in (
        [1, 2],
        {**heads("local", 6, T0), "block": "6"},
        heads("local", 6, T0, node_head=True),
        {**heads("local", 6, T0), "at": "now"},
        heads("", 6, T0),
        {"chain": "local"},
    ):
        put(v, bad)  # type: ignore[arg-type]
    (row,) = v.chains(T0)
    assert row.block == 5
    put(v, heads("other", 1, T0), "other")
    put(v, None, "local")
    assert [r.chain for r in v.chains(T0)] == ["other"]
    assert "local" not in v.samples


def test_an_integer_at_is_accepted() -> None:
    v = ActivityView(S)
    put(v, heads("local", 5, int(T0)))
    assert v.chains(T0 + 2)[0].age_s == 2.0


# The other views' figures for the dashboard: events and delivery attempts per minute


def test_wallets_view_counts_event_records_by_their_timestamp() -> None:
    from views.wallets import WalletsView

    v = WalletsView(S)
    events = S.topic("events")
    for i in range(90):  # one a second, the same event twice at the end
        eid = f"evt_{min(i, 88)}"
        v.apply(events, b"0xabc", orjson.dumps({"id": eid}), int((T0 + i) * 1000))
    v.apply(S.topic("wallets"), b"wal_1", orjson.dumps({"id": "wal_1"}), int(T0 * 1000))
    assert v.events_per_minute(T0 + 89.9) == 60
    assert v.events_per_minute(T0 + 10) == 11
    assert v.events_per_minute(T0 + 1000) == 0


def delivery(did: str, monitor: str, status: str, *codes: int | None) -> dict[str, Any]:
    attempts = [
        {
            "at": "2026-11-21T12:00:00Z",
            "status_code": code,
            "latency_ms": 5,
            "error": None if code == 200 else f"HTTP {code}" if code else "timeout",
        }
        for code in codes
    ]
    return {
        "id": did,
        "monitor_id": monitor,
        "url": f"https://{monitor}.example/h",
        "status": status,
        "attempts": attempts,
    }


def log(v: Any, rec: dict[str, Any], at: float) -> None:
    v.apply(S.topic("deliveries.log"), rec["id"].encode(), orjson.dumps(rec), int(at * 1000))


def test_deliveries_view_counts_each_new_attempt_once() -> None:
    from views.deliveries import DeliveriesView

    v = DeliveriesView(S)
    log(v, delivery("dlv_1", "mon_a", "pending"), T0)  # queued, no attempt yet
    log(v, delivery("dlv_1", "mon_a", "pending", 503), T0 + 1)
    log(v, delivery("dlv_1", "mon_a", "pending", 503), T0 + 2)  # the same record again
    log(v, delivery("dlv_1", "mon_a", "delivered", 503, 200), T0 + 3)
    log(v, delivery("dlv_2", "mon_b", "pending", 500, 500, 500), T0 + 4)  # first seen: 3
    assert v.attempts_per_minute(T0 + 10) == 5
    assert v.attempts_per_minute(T0 + 62) == 4  # the attempt at T0 + 1 has left the minute
    assert v.attempts_per_minute(T0 + 200) == 0


def test_deliveries_view_dead_letters_and_failing_monitors() -> None:
    from views.deliveries import DeliveriesView, FailingMonitor

    v = DeliveriesView(Settings(delivery={"log_max": 100}))
    log(v, delivery("dlv_1", "mon_a", "pending", 503), T0)
    log(v, delivery("dlv_2", "mon_b", "pending", None), T0 + 1)
    log(v, delivery("dlv_3", "mon_c", "failed", 500, 500), T0 + 2)
    log(v, delivery("dlv_4", "mon_a", "delivered", 200), T0 + 3)  # mon_a recovered
    log(v, delivery("dlv_5", "mon_d", "pending", 502), T0 - 7200)  # too long ago
    assert v.dead_letters() == 1
    assert v.failing(T0 + 10) == [
        FailingMonitor("mon_c", "https://mon_c.example/h", 500, "HTTP 500", T0 + 2),
        FailingMonitor("mon_b", "https://mon_b.example/h", None, "timeout", T0 + 1),
    ]
    assert [f.monitor_id for f in v.failing(T0 + 10, within_s=10_000)][-1] == "mon_d"
    assert [f.last for f in v.failing(T0 + 10)] == ["500", "timeout"]
    assert len(v.failing(T0 + 10, limit=1)) == 1
    # an older failure read after a newer success (another partition) does not win
    log(v, delivery("dlv_6", "mon_a", "pending", 503), T0 + 2.5)
    assert "mon_a" not in [f.monitor_id for f in v.failing(T0 + 10)]
    # the same dead letter logged again is still one
    log(v, delivery("dlv_3", "mon_c", "failed", 500, 500), T0 + 5)
    assert v.dead_letters() == 1
    for i in range(100):  # past log_max: the oldest are forgotten, and so are their counts
        log(v, delivery(f"dlv_x{i}", "mon_z", "delivered", 200), T0 + 20)
    assert v.dead_letters() == 0
    assert [f.monitor_id for f in v.failing(T0 + 30)] == []
