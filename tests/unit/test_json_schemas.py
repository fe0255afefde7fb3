"""Published JSON Schemas: up to date with the models, and the models match real records."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter, ValidationError

from schemas import export
from schemas.block import BlocksRecord
from schemas.delivery import DeadLetter
from schemas.event import Event
from schemas.monitor import Monitor
from schemas.wallet import Wallet
from streams.decode import decode_block
from streams.events import EventType, build_event
from streams.records import BlockRecord, Transfer
from tests.unit.contract import CONTRACT_EVENT_FIELDS

CONTRACT_ASSET_FIELDS = ["kind", "contract", "symbol", "decimals", "token_id"]
EVENT_TYPES: list[EventType] = [
    "transfer.seen",
    "transfer.confirming",
    "transfer.confirmed",
    "transfer.reverted",
]
BLOCKS: TypeAdapter[Any] = TypeAdapter(BlocksRecord)
XPUB = (
    "xpub6CUGRUonZSQ4TWtTMmzXdrXDtyPWKiKbERr4d5qkSmh5h17C1TjvMt7DJ9Qve4dRxm91CDv6cNfKsq2mK1"
    "rMsJKhtRUPZz7MQtp3y6atC1U"
)


def _h(byte: str) -> str:
    return "0x" + byte * 32


def _a(byte: str) -> str:
    return "0x" + byte * 20


def erc20_transfer() -> Transfer:
    return Transfer(
        key=f"31337:{_h('ab')}:3:0",
        tx_hash=_h("ab"),
        log_index=3,
        sub_index=0,
        block_number=7,
        block_hash=_h("cd"),
        timestamp=1_700_000_000,
        sender=_a("11"),
        to=_a("22"),
        asset={
            "kind": "erc20",
            "contract": _a("33"),
            "symbol": "USDC",
            "decimals": 6,
            "token_id": None,
        },
        amount="1500000",
    )


def native_transfer() -> Transfer:
    return Transfer(
        key=f"31337:{_h('ef')}:tx:0",
        tx_hash=_h("ef"),
        log_index=None,
        sub_index=0,
        block_number=8,
        block_hash=_h("01"),
        timestamp=1_700_000_012,
        sender=_a("44"),
        to=_a("55"),
        asset={
            "kind": "native",
            "contract": None,
            "symbol": "ETH",
            "decimals": 18,
            "token_id": None,
        },
        amount=str(10**18),
    )


def event(
    etype: EventType = "transfer.confirmed", transfer: Transfer | None = None
) -> dict[str, Any]:
    return build_event(
        etype=etype,
        transfer=transfer or erc20_transfer(),
        monitor_id="mon_hotwallet",
        side="in",
        chain="local",
        chain_id=31337,
        confirmations=0 if etype == "transfer.reverted" else 3,
        required=3,
    )


def block_record() -> dict[str, Any]:
    """A block as the follower publishes it: {"type": "block", **BlockRecord}."""
    block: BlockRecord = {
        "chain": "local",
        "chain_id": 31337,
        "number": 7,
        "hash": _h("cd"),
        "parent_hash": _h("ce"),
        "timestamp": 1_700_000_000,
        "transactions": [
            {
                "hash": _h("ef"),
                "index": 0,
                "sender": _a("44"),
                "to": _a("55"),
                "value": str(10**18),
                "status": 1,
            }
        ],
        "logs": [
            {
                "tx_hash": _h("ab"),
                "log_index": 3,
                "address": _a("33"),
                "topics": [
                    "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
                    "0x" + "0" * 24 + "11" * 20,
                    "0x" + "0" * 24 + "22" * 20,
                ],
                "data": "0x" + f"{1_500_000:064x}",
            }
        ],
        "tokens": {_a("33"): {"symbol": "USDC", "decimals": 6}},
    }
    assert len(list(decode_block(block))) == 2  # a real block: one native, one erc20
    return {"type": "block", **block}


def reorg_record() -> dict[str, Any]:
    """As agents/follower.py reorg_marker builds it."""
    orphaned = [(8, _h("02")), (9, _h("03"))]
    digest = hashlib.sha256(b"local:7:" + b",".join(h.encode() for _, h in orphaned)).hexdigest()[
        :32
    ]
    return {
        "type": "reorg",
        "id": f"reorg_{digest}",
        "chain": "local",
        "chain_id": 31337,
        "fork_number": 7,
        "depth": len(orphaned),
        "orphaned": [{"number": n, "hash": h} for n, h in orphaned],
    }


def dead_letter() -> dict[str, Any]:
    """What agents/delivery.py sends to the DLQ (agents/tracker.py delivery_job, after
    attempts), without the webhook secrets."""
    ev = event()
    return {
        "id": "dlv_" + ev["id"][4:],
        "event": ev,
        "monitor_id": "mon_hotwallet",
        "url": "https://example.com/hook",
        "retry": {"interval_s": None, "max_age_s": None, "delays_s": [10.0, 60.0]},
        "attempts": [
            {
                "at": "2026-11-21T12:00:00Z",
                "status_code": 500,
                "latency_ms": 12,
                "error": "HTTP 500",
                "response": "oops",
            },
            {
                "at": "2026-11-21T12:00:10Z",
                "status_code": None,
                "latency_ms": 10000,
                "error": "timeout after 10s",
                "response": None,
            },
        ],
        "first_at": "2026-11-21T12:00:00Z",
        "redelivery_of": None,
        "next_attempt_at": None,
        "status": "failed",
    }


# The checked-in files


def test_checked_in_schemas_are_what_export_produces() -> None:
    docs = export.documents()
    assert set(docs) == {
        "monitor.schema.json",
        "event.schema.json",
        "block.schema.json",
        "deliveries.dlq.schema.json",
        "monitors.addresses.schema.json",
        "wallet.schema.json",
        "withdrawal.schema.json",
        "audit.schema.json",
    }
    for name, doc in docs.items():
        path = export.HERE / name
        assert path.exists(), f"{name} missing: run python -m schemas.export"
        assert path.read_text(encoding="utf-8") == export.render(doc), (
            f"{name} is stale: run python -m schemas.export"
        )


def test_export_writes_every_file(tmp_path: Path) -> None:
    paths = export.write(tmp_path)
    assert sorted(p.name for p in paths) == sorted(export.documents())
    for p in paths:
        doc = json.loads(p.read_text())
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert doc["$id"] == p.name
        assert doc["description"]


def test_block_schema_is_one_of_block_reorg_and_watch() -> None:
    doc = export.documents()["block.schema.json"]
    refs = sorted(item["$ref"] for item in doc["oneOf"])
    assert refs == ["#/$defs/Block", "#/$defs/ReorgMarker", "#/$defs/WatchMarker"]


def test_event_schema_has_the_contract_fields() -> None:
    doc = export.documents()["event.schema.json"]
    assert [b["$ref"] for b in doc["anyOf"]] == ["#/$defs/Event", "#/$defs/WithdrawalEvent"]
    transfer = doc["$defs"]["Event"]
    assert list(transfer["properties"]) == CONTRACT_EVENT_FIELDS
    assert transfer["required"] == CONTRACT_EVENT_FIELDS
    assert transfer["additionalProperties"] is False
    assert list(doc["$defs"]["EventAsset"]["properties"]) == CONTRACT_ASSET_FIELDS
    assert transfer["properties"]["type"]["enum"] == EVENT_TYPES
    assert transfer["properties"]["amount"]["type"] == "string"
    wdr = doc["$defs"]["WithdrawalEvent"]
    assert wdr["additionalProperties"] is False and wdr["properties"]["amount"]["type"] == "string"
    assert {"withdrawal_id", "type", "occurred_at", "id"} <= set(wdr["required"])


# Events


@pytest.mark.parametrize("etype", EVENT_TYPES)
def test_built_events_validate(etype: EventType) -> None:
    for transfer in (erc20_transfer(), native_transfer()):
        ev = event(etype, transfer)
        assert list(ev) == CONTRACT_EVENT_FIELDS
        model = Event.model_validate(ev)
        assert model.model_dump(mode="json", by_alias=True) == ev
        Event.model_validate_json(orjson.dumps(ev))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", 1.5),
        ("amount", 1500000),
        ("amount", "1.5"),
        ("amount", "-1"),
        ("chain_id", "31337"),
        ("confirmations", 3.0),
        ("credited", 1),
        ("type", "transfer.pending"),
        ("from", "0x" + "AB" * 20),
        ("tx_hash", "0x1234"),
        ("occurred_at", "2026-11-21 12:00:00"),
        ("direction", "both"),
    ],
)
def test_bad_event_values_are_rejected(field: str, value: object) -> None:
    ev = event()
    ev[field] = value
    with pytest.raises(ValidationError):
        Event.model_validate(ev)
    with pytest.raises(ValidationError):
        Event.model_validate_json(orjson.dumps(ev))


def test_event_with_extra_or_missing_field_is_rejected() -> None:
    ev = event()
    with pytest.raises(ValidationError):
        Event.model_validate({**ev, "note": "hi"})
    with pytest.raises(ValidationError):
        Event.model_validate({**ev, "asset": {**ev["asset"], "name": "USD Coin"}})
    for field in ("wallet_id", "log_index", "from"):
        missing = {k: v for k, v in ev.items() if k != field}
        with pytest.raises(ValidationError):
            Event.model_validate(missing)
    with pytest.raises(ValidationError):
        Event.model_validate({**ev, "asset": {**ev["asset"], "decimals": 6.5}})


# Blocks, dead letters, monitors, wallets


def test_block_and_reorg_records_validate() -> None:
    for rec in (block_record(), reorg_record()):
        dumped = BLOCKS.dump_python(
            BLOCKS.validate_json(orjson.dumps(rec)), mode="json", exclude_none=True
        )
        assert dumped == {k: v for k, v in rec.items() if v is not None}


def test_bad_block_records_are_rejected() -> None:
    for bad in (
        {k: v for k, v in block_record().items() if k != "type"},
        {**block_record(), "type": "blocks"},
        {**block_record(), "extra": 1},
        {**block_record(), "number": "7"},
        {**reorg_record(), "orphaned": []},
        {**reorg_record(), "id": "reorg_x"},
    ):
        with pytest.raises(ValidationError):
            BLOCKS.validate_python(bad)


def test_dead_letter_validates_without_secrets() -> None:
    rec = dead_letter()
    parsed = DeadLetter.model_validate_json(orjson.dumps(rec))
    assert parsed.model_dump(mode="json", by_alias=True)["event"] == rec["event"]
    minimal = copy.deepcopy(rec)
    del minimal["next_attempt_at"]
    minimal["retry"] = None
    DeadLetter.model_validate(minimal)
    # The delivery job carries the webhook secrets; the published record must not.
    with pytest.raises(ValidationError):
        DeadLetter.model_validate({**rec, "secrets": ["whsec_x"]})
    with pytest.raises(ValidationError):
        DeadLetter.model_validate({**rec, "attempts": []})


def test_monitor_and_wallet_validate() -> None:
    monitor = Monitor.model_validate(
        {
            "id": "mon_hotwallet",
            "chain": "local",
            "addresses": [_a("22")],
            "confirmations": 3,
            "webhook": {"url": "https://example.com/hook", "secret": None},
        }
    ).model_dump(mode="json")
    assert Monitor.model_validate_json(orjson.dumps(monitor)).model_dump(mode="json") == monitor
    wallet = {"id": "wal_1", "chain": "local", "xpub": XPUB, "label": "hot"}
    assert Wallet.model_validate(wallet).model_dump(exclude_defaults=True) == wallet
    with pytest.raises(ValidationError):
        Wallet.model_validate({**wallet, "xprv": "xprv..."})
