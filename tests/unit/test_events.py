"""events.build_event: the contract's event object (docs/interface.md, "Events")."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson
import pytest

from core.timefmt import iso_utc
from streams.events import build_event, event_id
from tests.unit.contract import CONTRACT_EVENT_FIELDS

TYPES = ["transfer.seen", "transfer.confirming", "transfer.confirmed", "transfer.reverted"]


def ev(t: Any, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "etype": "transfer.confirmed",
        "transfer": t,
        "monitor_id": "mon_a",
        "side": "in",
        "chain": "local",
        "chain_id": 31337,
        "confirmations": 12,
        "required": 12,
    }
    args.update(kw)
    return build_event(**args)


def test_exact_keys_in_contract_order(make_transfer) -> None:
    e = ev(make_transfer(kind="erc20", log_index=3), wallet_id="wal_1", user_ref="customer-42")
    assert list(e) == CONTRACT_EVENT_FIELDS
    assert list(e["asset"]) == ["kind", "contract", "symbol", "decimals", "token_id"]
    # the serialised form keeps the order too
    assert list(orjson.loads(orjson.dumps(e))) == CONTRACT_EVENT_FIELDS


def test_values(make_transfer) -> None:
    t = make_transfer(kind="erc20", log_index=3, amount=2**100, timestamp=1_795_262_400)
    e = ev(t, side="out", wallet_id="wal_1", user_ref="customer-42")
    assert re.fullmatch(r"evt_[0-9a-f]+", e["id"])
    assert e["type"] == "transfer.confirmed"
    assert e["monitor_id"] == "mon_a"
    assert e["chain"] == "local" and e["chain_id"] == 31337
    assert e["tx_hash"] == t["tx_hash"]
    assert e["log_index"] == 3
    assert e["block_number"] == t["block_number"] and e["block_hash"] == t["block_hash"]
    assert e["from"] == t["sender"] and e["to"] == t["to"]
    assert e["direction"] == "out"
    assert e["asset"] == t["asset"]
    assert e["asset"] is not t["asset"]  # a copy: mutating the event leaves the transfer
    assert e["amount"] == str(2**100)
    assert e["confirmations"] == 12 and e["required_confirmations"] == 12
    assert e["credited"] is True
    assert e["wallet_id"] == "wal_1" and e["user_ref"] == "customer-42"
    assert e["occurred_at"] == "2026-11-21T12:00:00Z"


def test_native_event_has_null_log_index(make_transfer) -> None:
    e = ev(make_transfer())
    assert e["log_index"] is None
    assert e["wallet_id"] is None and e["user_ref"] is None


def test_no_floats_anywhere(make_transfer) -> None:
    def walk(x: Any) -> None:
        assert not isinstance(x, float)
        if isinstance(x, dict):
            for v in x.values():
                walk(v)

    for etype in TYPES:
        walk(ev(make_transfer(kind="erc20"), etype=etype))


@pytest.mark.parametrize("etype", TYPES)
def test_credited_only_on_confirmed(make_transfer, etype: str) -> None:
    assert ev(make_transfer(), etype=etype)["credited"] is (etype == "transfer.confirmed")


def test_id_is_deterministic(make_transfer) -> None:
    assert ev(make_transfer())["id"] == ev(make_transfer())["id"]
    # fields that are not part of the identity do not change it
    assert ev(make_transfer())["id"] == ev(make_transfer(), wallet_id="w", chain="x")["id"]


def test_id_differs_per_type_monitor_side_and_block(make_transfer, bhash) -> None:
    t = make_transfer()
    base = ev(t)["id"]
    variants = [
        *(ev(t, etype=x)["id"] for x in TYPES if x != "transfer.confirmed"),
        ev(t, monitor_id="mon_b")["id"],
        ev(t, side="out")["id"],
        ev(make_transfer(bhash=bhash(t["block_number"], "b")))["id"],
        ev(make_transfer(tx=2))["id"],
        ev(make_transfer(log_index=0))["id"],
        ev(make_transfer(log_index=0, sub=1))["id"],
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)


def test_confirming_ids_differ_per_count(make_transfer) -> None:
    t = make_transfer()
    ids = [ev(t, etype="transfer.confirming", confirmations=c)["id"] for c in range(2, 12)]
    assert len(set(ids)) == len(ids)


def test_other_types_ignore_the_count(make_transfer) -> None:
    t = make_transfer()
    for etype in ("transfer.seen", "transfer.confirmed", "transfer.reverted"):
        assert (
            ev(t, etype=etype, confirmations=1)["id"] == ev(t, etype=etype, confirmations=9)["id"]
        )


def test_event_id_matches_build_event(make_transfer) -> None:
    t = make_transfer()
    assert event_id(t, "mon_a", "in", "transfer.seen", 1) == ev(t, etype="transfer.seen")["id"]


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1_700_000_000, "2023-11-14T22:13:20Z"),
        (1_795_262_400, "2026-11-21T12:00:00Z"),
    ],
)
def test_iso_utc(ts: int, expected: str) -> None:
    assert iso_utc(ts) == expected
    assert datetime.fromisoformat(expected.replace("Z", "+00:00")).timestamp() == ts


def test_occurred_at_is_rfc3339_z(make_transfer) -> None:
    e = ev(make_transfer(timestamp=1_700_000_001))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["occurred_at"])
    assert e["occurred_at"] == "2023-11-14T22:13:21Z"
