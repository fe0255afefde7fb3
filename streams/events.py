"""Build contract events (docs/interface.md, "Events") with deterministic ids."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from core.timefmt import iso_utc
from streams.records import Transfer

EventType = Literal[
    "transfer.seen", "transfer.confirming", "transfer.confirmed", "transfer.reverted"
]


def event_id(transfer: Transfer, monitor_id: str, side: str, etype: str, confirmations: int) -> str:
    """evt_<hex>: the same transfer (in the same block), monitor, side and type give the same id.

    The block hash is part of it so that a transaction re-mined after a reorg is a new
    delivery; `transfer.confirming` also includes its confirmation count (one per count).
    """
    extra = str(confirmations) if etype == "transfer.confirming" else ""
    raw = "|".join(
        (transfer["key"], transfer["block_hash"], monitor_id, side, etype, extra)
    ).encode()
    return "evt_" + hashlib.sha256(raw).hexdigest()[:40]


def build_event(
    *,
    etype: EventType,
    transfer: Transfer,
    monitor_id: str,
    side: Literal["in", "out"],
    chain: str,
    chain_id: int,
    confirmations: int,
    required: int,
    wallet_id: str | None = None,
    user_ref: str | None = None,
) -> dict[str, Any]:
    """The event JSON object; every field of the contract, in the contract's order."""
    return {
        "id": event_id(transfer, monitor_id, side, etype, confirmations),
        "type": etype,
        "monitor_id": monitor_id,
        "chain": chain,
        "chain_id": chain_id,
        "tx_hash": transfer["tx_hash"],
        "log_index": transfer["log_index"],
        "block_number": transfer["block_number"],
        "block_hash": transfer["block_hash"],
        "from": transfer["sender"],
        "to": transfer["to"],
        "direction": side,
        "asset": dict(transfer["asset"]),
        "amount": transfer["amount"],
        "confirmations": confirmations,
        "required_confirmations": required,
        "credited": etype == "transfer.confirmed",
        "wallet_id": wallet_id,
        "user_ref": user_ref,
        "occurred_at": iso_utc(transfer["timestamp"]),
    }
