"""What comes back from the signer and the node: signed bytes, send errors, receipts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from core.errors import BlockhookError

MAX_RAW_BYTES = 128 * 1024  # geth's pool refuses larger transactions
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")
_HASH = re.compile(r"0x[0-9a-fA-F]{64}")


class TxCheckError(BlockhookError):
    """Signed bytes or a node's answer are not what they must be."""


@dataclass(frozen=True)
class SignedTx:
    """A decoded, signature-checked EIP-1559 transaction; hex fields in lower case."""

    hash: str
    sender: str
    chain_id: int
    nonce: int
    to: str
    value: int
    data: str
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    raw: str


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _decoded(raw: bytes) -> SignedTx:
    """The transaction in `raw`; any exception means the bytes are bad (caller wraps it)."""
    typed = TypedTransaction.from_bytes(HexBytes(raw))
    if typed.encode() != raw:
        raise TxCheckError("not canonically encoded")
    d = typed.as_dict()
    if d.get("accessList"):
        raise TxCheckError("it has an access list (none was asked for)")
    to = bytes(d["to"])
    if len(to) != 20:
        raise TxCheckError("it has no recipient (a contract creation)")
    v, r, s = typed.vrs()
    if v not in (0, 1) or not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        raise TxCheckError("bad signature values (v, r, s)")
    sender = str(Account.recover_transaction(raw)).lower()
    return SignedTx(
        hash=_hex(keccak(raw)),
        sender=sender,
        chain_id=int(d["chainId"]),
        nonce=int(d["nonce"]),
        to=_hex(to),
        value=int(d["value"]),
        data=_hex(d["data"]),
        gas=int(d["gas"]),
        max_fee_per_gas=int(d["maxFeePerGas"]),
        max_priority_fee_per_gas=int(d["maxPriorityFeePerGas"]),
        raw=_hex(raw),
    )


def decode_signed(raw_hex: str) -> SignedTx:
    """Decode a signed type-2 transaction and recover its sender; its hash is the keccak of
    the bytes, as the node computes it. TxCheckError for anything else, never another error."""
    if not isinstance(raw_hex, str) or not _HEX.fullmatch(raw_hex):
        raise TxCheckError("signed_tx is not 0x-prefixed hex bytes")
    raw = bytes.fromhex(raw_hex[2:])
    if not raw:
        raise TxCheckError("signed_tx is empty")
    if len(raw) > MAX_RAW_BYTES:
        raise TxCheckError(f"signed_tx is {len(raw)} bytes, over {MAX_RAW_BYTES}")
    if raw[0] >= 0xC0:
        raise TxCheckError("a legacy transaction, not EIP-1559 (type 2)")
    if raw[0] != 2:
        raise TxCheckError(f"a type {raw[0]} transaction, not EIP-1559 (type 2)")
    try:
        return _decoded(raw)
    except TxCheckError:
        raise
    except Exception as exc:  # eth_account/rlp raise many kinds on bad bytes
        raise TxCheckError(f"undecodable transaction ({type(exc).__name__})") from None


def _short(data: str) -> str:
    """Hex data for a message: long calldata cut, so an error stays readable."""
    return data if len(data) <= 80 else f"{data[:74]}...({(len(data) - 2) // 2} bytes)"


def _expected(tx: dict[str, Any]) -> list[tuple[str, Any]]:
    """The fields of our unsigned transaction, in the order they are checked."""
    try:
        return [
            ("chain id", int(tx["chainId"])),
            ("nonce", int(tx["nonce"])),
            ("recipient", str(tx["to"]).lower()),
            ("value", int(tx["value"])),
            ("data", str(tx.get("data") or "0x").lower()),
            ("gas", int(tx["gas"])),
            ("max fee per gas", int(tx["maxFeePerGas"])),
            ("max priority fee per gas", int(tx["maxPriorityFeePerGas"])),
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise TxCheckError(f"the expected transaction is malformed ({exc!r})") from None


def check_signed(signed: SignedTx, expected_tx: dict[str, Any], expected_sender: str) -> None:
    """The signed transaction is exactly the one asked for, from the expected sender:
    TxCheckError naming the first field that differs (before anything is broadcast)."""
    expected = _expected(expected_tx)
    got = [
        signed.chain_id,
        signed.nonce,
        signed.to,
        signed.value,
        signed.data,
        signed.gas,
        signed.max_fee_per_gas,
        signed.max_priority_fee_per_gas,
    ]
    sender = str(expected_sender).lower()
    if signed.sender != sender:
        raise TxCheckError(f"sender {signed.sender} is not {sender}")
    for (name, want), have in zip(expected, got, strict=True):
        if have != want:
            shown = (_short(str(have)), _short(str(want))) if name == "data" else (have, want)
            raise TxCheckError(f"{name} {shown[0]} is not {shown[1]}")


# Phrases of eth_sendRawTransaction errors, compared after _words(), from geth, Nethermind
# (its old enum names and its geth-style text), Erigon, Besu (messages and enum names), reth,
# anvil and OpenEthereum. The first family with a phrase in the message wins.
SEND_ERRORS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # The node has these very bytes (Besu and old geth: "known transaction"; Erigon:
    # "existing tx(n) with same hash"; providers: "ALREADY_EXISTS").
    ("known", ("already known", "known transaction", "already imported", "already exists",
               "already added", "with same hash")),
    # The sender's nonce moved past it (ours mined, or another transaction's).
    ("nonce_low", ("nonce too low", "nonce is too low", "old nonce", "own nonce already used",
                   "invalid nonce")),
    # Fees below the pool's floor, the base fee, or a replacement's required bump.
    ("underpriced", ("underpriced", "fee too low", "max fee per gas less than block base fee",
                     "fee cap less than block base fee", "fee cap too low", "below chain minimum",
                     "gas price below", "gas price too low", "gas price is too low",
                     "gas price supplied is too low", "insufficient gas price to replace",
                     "replacement not allowed", "could not replace existing tx")),
    ("funds", ("insufficient funds", "upfront cost exceeds", "insufficient balance")),
)  # fmt: skip


def _words(message: str) -> str:
    """Lower-case words with single spaces around: "OldNonce", "NONCE_TOO_LOW" and
    "nonce too low" all read alike, and phrases match whole words only."""
    split = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", message)
    return " " + " ".join(re.sub(r"[^a-z0-9]+", " ", split.lower()).split()) + " "


def classify_send_error(message: str) -> str:
    """The family of an eth_sendRawTransaction error: known (the node has these bytes),
    nonce_low, underpriced, funds, or other. "known" never speaks of a nonce: "a transaction
    with the same nonce already exists" is another transaction, not ours."""
    text = _words(str(message))
    for kind, phrases in SEND_ERRORS:
        if kind == "known" and " nonce " in text:
            continue
        if any(f" {p} " in text for p in phrases):
            return kind
    return "other"


@dataclass(frozen=True)
class ReceiptView:
    """What a receipt says of a mined transaction; amounts in wei."""

    block_number: int
    block_hash: str
    status: int  # 1 success, 0 reverted
    gas_used: int
    effective_gas_price: int

    @property
    def fee(self) -> int:
        """What the sender paid for gas, in wei of the native coin."""
        return self.gas_used * self.effective_gas_price


Receipt = ReceiptView


def _field(receipt: dict[str, Any], key: str) -> int:
    v = receipt.get(key)
    if not isinstance(v, str) or not _QUANTITY.fullmatch(v):
        raise TxCheckError(f"receipt {key} {v!r} is not a hex quantity")
    return int(v, 16)


def parse_receipt(receipt_json: dict[str, Any] | None) -> ReceiptView | None:
    """The receipt of eth_getTransactionReceipt; None when there is none (not mined, or a
    pending receipt without a block). TxCheckError when its shape is wrong."""
    if receipt_json is None:
        return None
    if not isinstance(receipt_json, dict):
        raise TxCheckError("the receipt is not an object")
    if receipt_json.get("blockNumber") is None:
        return None
    block_hash = receipt_json.get("blockHash")
    if not isinstance(block_hash, str) or not _HASH.fullmatch(block_hash):
        raise TxCheckError(f"receipt blockHash {block_hash!r} is not a 32-byte hash")
    status = _field(receipt_json, "status")
    if status not in (0, 1):
        raise TxCheckError(f"receipt status {status} is not 0 or 1")
    return ReceiptView(
        block_number=_field(receipt_json, "blockNumber"),
        block_hash=block_hash.lower(),
        status=status,
        gas_used=_field(receipt_json, "gasUsed"),
        effective_gas_price=_field(receipt_json, "effectiveGasPrice"),
    )
