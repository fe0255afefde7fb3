"""A signing request of the platform (docs/withdrawals.md, "The signer protocol"), parsed and
validated into plain typed values before anything looks at it.

Everything here comes from the platform, which the signer does not trust: every field is
checked for type and form, and a malformed request becomes a refusal, never a crash."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from eth_utils.address import is_checksum_address

from signer.errors import RequestError

UINT256 = 2**256
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}\Z")
_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,77})\Z")
_HEX_DATA = re.compile(r"0x(?:[0-9a-fA-F]{2})*\Z")
_ID = re.compile(r"[A-Za-z0-9_-]{1,100}\Z")
_PRINTABLE = re.compile(r"[\x20-\x7e]{1,200}\Z")


def address(value: object, what: str) -> str:
    """A lower-case 0x address; RequestError when it is not one (mixed case must carry a
    valid EIP-55 checksum)."""
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise RequestError(f"{what} is not a 0x address of 40 hex digits")
    body = value[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(value):
        raise RequestError(f"{what} {value} has a wrong EIP-55 checksum")
    return value.lower()


def decimal(value: object, what: str) -> int:
    """A non-negative integer below 2^256 written as a decimal string (JSON numbers lose
    precision above 2^53, so amounts and fees are strings)."""
    if not isinstance(value, str) or not _DECIMAL.match(value):
        raise RequestError(f"{what} is not a decimal string")
    n = int(value)
    if n >= UINT256:
        raise RequestError(f"{what} does not fit in 256 bits")
    return n


def integer(value: object, what: str, limit: int = 2**64) -> int:
    """A non-negative JSON integer below limit (bools are not numbers here)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < limit:
        raise RequestError(f"{what} is not an integer between 0 and {limit - 1}")
    return value


def printable(value: object) -> str | None:
    """value when it is 1 to 200 printable ASCII characters (safe in a log line), else None."""
    return value if isinstance(value, str) and _PRINTABLE.match(value) else None


def text(value: object, what: str) -> str:
    """A short printable string (the platform's text ends up in logs and reasons)."""
    ok = printable(value)
    if ok is None:
        raise RequestError(f"{what} is not 1 to 200 printable characters")
    return ok


def request_id(item: object) -> str | None:
    """The request's id when it has a usable one (else it cannot even be answered)."""
    if isinstance(item, dict):
        sid = item.get("id")
        if isinstance(sid, str) and _ID.match(sid):
            return sid
    return None


@dataclass(frozen=True)
class Tx:
    """The unsigned EIP-1559 transaction asked for, in ints and lower-case hex."""

    chain_id: int
    nonce: int
    to: str
    value: int
    data: str
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True)
class Withdrawal:
    """What the signer uses of the withdrawal record."""

    id: str
    chain: str
    sender: str
    to: str
    asset_kind: str
    contract: str | None
    amount: int
    status: str
    requested_by: str
    approvals_required: int
    approvers: frozenset[str]  # distinct principals other than the requester

    @property
    def asset_key(self) -> str:
        """The key of the policy's [assets] table: "native" or the token contract."""
        return self.contract if self.contract is not None else "native"


@dataclass(frozen=True)
class Request:
    """One validated signing request."""

    id: str
    chain: str
    chain_id: int
    wallet_id: str
    path: str
    sender: str
    tx: Tx
    withdrawal: Withdrawal


def _tx(raw: object) -> Tx:
    if not isinstance(raw, dict):
        raise RequestError("tx is not an object")
    if raw.get("type") != 2 or isinstance(raw.get("type"), bool):
        raise RequestError("tx is not an EIP-1559 (type 2) transaction")
    data = raw.get("data", "0x")
    if not isinstance(data, str) or not _HEX_DATA.match(data):
        raise RequestError("tx data is not 0x-prefixed hex bytes")
    tx = Tx(
        chain_id=integer(raw.get("chainId"), "tx chainId"),
        nonce=integer(raw.get("nonce"), "tx nonce", 2**64 - 1),
        to=address(raw.get("to"), "tx to"),
        value=decimal(raw.get("value"), "tx value"),
        data=data.lower(),
        gas=integer(raw.get("gas"), "tx gas"),
        max_fee_per_gas=decimal(raw.get("maxFeePerGas"), "tx maxFeePerGas"),
        max_priority_fee_per_gas=decimal(
            raw.get("maxPriorityFeePerGas"), "tx maxPriorityFeePerGas"
        ),
    )
    if tx.chain_id == 0 or tx.gas == 0:
        raise RequestError("tx chainId and gas must be positive")
    if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        raise RequestError("tx maxPriorityFeePerGas is above maxFeePerGas")
    return tx


def _approvers(raw: object, requester: str) -> frozenset[str]:
    if not isinstance(raw, list):
        raise RequestError("withdrawal approvals is not a list")
    out = set()
    for a in raw:
        if not isinstance(a, dict):
            raise RequestError("a withdrawal approval is not an object")
        principal = text(a.get("principal"), "an approval's principal")
        if principal != requester:
            out.add(principal)
    return frozenset(out)


def _withdrawal(raw: object) -> Withdrawal:
    if not isinstance(raw, dict):
        raise RequestError("withdrawal is not an object")
    asset = raw.get("asset")
    if not isinstance(asset, dict):
        raise RequestError("withdrawal asset is not an object")
    kind = text(asset.get("kind"), "withdrawal asset kind")
    if kind == "native":
        if asset.get("contract") is not None:
            raise RequestError("a native asset has no contract")
        contract = None
    elif kind == "erc20":
        contract = address(asset.get("contract"), "withdrawal asset contract")
    else:
        raise RequestError(f"asset kind {kind[:20]!r} cannot be withdrawn (native or erc20)")
    requester = text(raw.get("requested_by"), "withdrawal requested_by")
    return Withdrawal(
        id=text(raw.get("id"), "withdrawal id"),
        chain=text(raw.get("chain"), "withdrawal chain"),
        sender=address(raw.get("from"), "withdrawal from"),
        to=address(raw.get("to"), "withdrawal to"),
        asset_kind=kind,
        contract=contract,
        amount=decimal(raw.get("amount"), "withdrawal amount"),
        status=text(raw.get("status"), "withdrawal status"),
        requested_by=requester,
        approvals_required=integer(raw.get("approvals_required"), "approvals_required"),
        approvers=_approvers(raw.get("approvals"), requester),
    )


def parse(item: dict[str, Any]) -> Request:
    """The request, validated; RequestError (its message is the refusal reason) otherwise."""
    sid = request_id(item)
    if sid is None:
        raise RequestError("the request has no usable id")
    return Request(
        id=sid,
        chain=text(item.get("chain"), "chain"),
        chain_id=integer(item.get("chain_id"), "chain_id"),
        wallet_id=text(item.get("wallet_id"), "wallet_id"),
        path=text(item.get("path"), "path"),
        sender=address(item.get("from"), "from"),
        tx=_tx(item.get("tx")),
        withdrawal=_withdrawal(item.get("withdrawal")),
    )
