"""Turn a node's JSON-RPC block and receipts into one compact, validated BlockRecord."""

from __future__ import annotations

from typing import Any

from core.errors import DecodeError
from schemas.types import is_hash32, normalize_address
from streams.records import BlockRecord, LogRecord, TokenMeta, TxRecord

# keccak256 of the event signatures blockhook decodes.
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
TRANSFER_SINGLE_TOPIC = "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
TRANSFER_BATCH_TOPIC = "0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb"
TRANSFER_TOPICS = frozenset({TRANSFER_TOPIC, TRANSFER_SINGLE_TOPIC, TRANSFER_BATCH_TOPIC})


def hex_int(value: Any, what: str) -> int:
    """Parse a JSON-RPC quantity (0x-hex string) into an int, or raise DecodeError."""
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise DecodeError(f"{what}: not a hex quantity: {value!r}")


def _hash(value: Any, what: str) -> str:
    if not is_hash32(value):
        raise DecodeError(f"{what}: not a 32-byte hash: {value!r}")
    return str(value).lower()


def _addr(value: Any, what: str) -> str:
    try:
        return normalize_address(value)
    except ValueError as exc:
        raise DecodeError(f"{what}: {exc}") from exc


def normalize_block(
    chain: str,
    chain_id: int,
    block: Any,
    receipts: Any,
    tokens: dict[str, TokenMeta] | None = None,
) -> BlockRecord:
    """Validate a block (with full transactions) and its receipts; keep what transfers need.

    Only value-carrying transactions and logs whose topic0 is a transfer event are kept, so
    a block message stays small. A receipt list that does not cover every transaction is
    refused (a node that lies must not make us skip a transfer).
    """
    if not isinstance(block, dict):
        raise DecodeError("block is not an object")
    number = hex_int(block.get("number"), "block.number")
    bhash = _hash(block.get("hash"), "block.hash")
    parent = _hash(block.get("parentHash"), "block.parentHash")
    timestamp = hex_int(block.get("timestamp"), "block.timestamp")
    txs = block.get("transactions")
    if not isinstance(txs, list):
        raise DecodeError("block.transactions is not a list")
    if not isinstance(receipts, list):
        raise DecodeError("receipts is not a list")
    by_hash: dict[str, dict[str, Any]] = {}
    for r in receipts:
        if not isinstance(r, dict):
            raise DecodeError("receipt is not an object")
        rh = _hash(r.get("transactionHash"), "receipt.transactionHash")
        if r.get("blockHash") is not None and str(r.get("blockHash")).lower() != bhash:
            raise DecodeError(f"receipt {rh} belongs to another block")
        by_hash[rh] = r

    out_txs: list[TxRecord] = []
    out_logs: list[LogRecord] = []
    for tx in txs:
        if not isinstance(tx, dict):
            raise DecodeError("transaction is not an object (ask for full transactions)")
        th = _hash(tx.get("hash"), "tx.hash")
        receipt = by_hash.get(th)
        if receipt is None:
            raise DecodeError(f"no receipt for transaction {th}")
        status = hex_int(receipt.get("status", "0x1"), "receipt.status")
        value = hex_int(tx.get("value", "0x0"), "tx.value")
        if value > 0:
            to = tx.get("to")
            out_txs.append(
                TxRecord(
                    hash=th,
                    index=hex_int(tx.get("transactionIndex"), "tx.transactionIndex"),
                    sender=_addr(tx.get("from"), "tx.from"),
                    to=_addr(to, "tx.to") if to is not None else None,
                    value=str(value),
                    status=status,
                )
            )
        if status != 1:
            continue
        logs = receipt.get("logs") or []
        if not isinstance(logs, list):
            raise DecodeError("receipt.logs is not a list")
        for lg in logs:
            if not isinstance(lg, dict) or lg.get("removed"):
                continue
            topics = lg.get("topics")
            if not isinstance(topics, list) or not topics:
                continue
            t0 = str(topics[0]).lower()
            if t0 not in TRANSFER_TOPICS or not all(is_hash32(t) for t in topics):
                continue
            data = lg.get("data", "0x")
            if not isinstance(data, str) or not data.startswith("0x"):
                continue
            try:
                address = _addr(lg.get("address"), "log.address")
                log_index = hex_int(lg.get("logIndex"), "log.logIndex")
            except DecodeError:
                continue
            out_logs.append(
                LogRecord(
                    tx_hash=th,
                    log_index=log_index,
                    address=address,
                    topics=[str(t).lower() for t in topics],
                    data=data.lower(),
                )
            )
    return BlockRecord(
        chain=chain,
        chain_id=chain_id,
        number=number,
        hash=bhash,
        parent_hash=parent,
        timestamp=timestamp,
        transactions=out_txs,
        logs=out_logs,
        tokens=dict(tokens or {}),
    )


def token_contracts(block: BlockRecord) -> set[str]:
    """Contracts whose fungible-token metadata (symbol, decimals) events will want."""
    return {lg["address"] for lg in block["logs"] if lg["topics"][0] == TRANSFER_TOPIC}
