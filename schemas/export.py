"""JSON Schema (draft 2020-12) of every value on a contract topic; `python -m schemas.export`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from schemas.access import AuditRecord
from schemas.block import BlocksRecord
from schemas.delivery import DeadLetter
from schemas.event import Event
from schemas.monitor import Monitor, MonitorChunk
from schemas.wallet import Wallet
from schemas.withdrawal import Withdrawal, WithdrawalEvent

DIALECT = "https://json-schema.org/draft/2020-12/schema"
HERE = Path(__file__).resolve().parent

# file name → (topic, what the value is, its schema source)
TOPICS: dict[str, tuple[str, str, type[BaseModel] | TypeAdapter[Any]]] = {
    "monitor.schema.json": (
        "monitors",
        "A monitor, keyed by its id; a null value (tombstone) deletes it.",
        Monitor,
    ),
    "event.schema.json": (
        "events",
        "An event (docs/interface.md, Events): a transfer's, keyed by the watched address, or "
        "a withdrawal's (docs/withdrawals.md), keyed by withdrawal id; the same JSON is the "
        "body of the webhook.",
        TypeAdapter(Event | WithdrawalEvent),
    ),
    "block.schema.json": (
        "blocks",
        "A normalised block (type: block), a reorg marker (type: reorg) or a watch marker "
        "(type: watch), keyed by chain "
        "name, in chain order.",
        TypeAdapter(BlocksRecord),
    ),
    "deliveries.dlq.schema.json": (
        "deliveries.dlq",
        "A delivery the retry policy gave up on, keyed by event id.",
        DeadLetter,
    ),
    "monitors.addresses.schema.json": (
        "monitors.addresses",
        "A chunk of a monitor's addresses (at most 25,000), keyed `<monitor_id>:<chunk>`; a "
        "null value deletes the chunk. The monitor watches its own `addresses` and every "
        "chunk's.",
        MonitorChunk,
    ),
    "wallet.schema.json": (
        "wallets",
        "A wallet (an account-level extended public key, never a private key), keyed by its id.",
        Wallet,
    ),
    "withdrawal.schema.json": (
        "withdrawals",
        "The latest record of a withdrawal, keyed by its id (compacted).",
        Withdrawal,
    ),
    "audit.schema.json": (
        "audit",
        "One audit record, keyed by principal, on one partition (one order); each record's "
        "hash chains it to the one before.",
        AuditRecord,
    ),
}


def schema_for(source: type[BaseModel] | TypeAdapter[Any]) -> dict[str, Any]:
    """The validation-mode JSON Schema of a model or type adapter (aliases as on the wire)."""
    if isinstance(source, TypeAdapter):
        return source.json_schema(by_alias=True, mode="validation")
    return source.model_json_schema(by_alias=True, mode="validation")


def documents() -> dict[str, dict[str, Any]]:
    """Every schema document, by file name."""
    out: dict[str, dict[str, Any]] = {}
    for filename, (topic, what, source) in TOPICS.items():
        schema = schema_for(source)
        doc: dict[str, Any] = {"$schema": DIALECT, "$id": filename}
        doc["title"] = schema.pop("title", f"{topic} topic value")
        doc["description"] = (
            f"Value of the `{topic}` topic (prefix configurable, default `blockhook.`). {what}"
        )
        if "description" in schema:
            doc["description"] += "\n\n" + schema.pop("description")
        doc.update(schema)
        out[filename] = doc
    return out


def render(doc: dict[str, Any]) -> str:
    """A schema document as it is checked in: indented JSON with a final newline."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write(directory: Path = HERE) -> list[Path]:
    """Write every schema document into directory; return the paths written."""
    paths = []
    for filename, doc in documents().items():
        path = directory / filename
        path.write_text(render(doc), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    """Write the schemas next to this module (or into the directory given)."""
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for path in write(directory):
        print(path)


if __name__ == "__main__":
    main()
