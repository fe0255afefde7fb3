"""The unsigned EIP-1559 transaction of a withdrawal: calldata, fees, gas, the signer's form."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from eth_utils.address import is_checksum_address, to_checksum_address

from core.errors import BlockhookError

TRANSFER_SELECTOR = "0xa9059cbb"  # transfer(address,uint256)
MAX_GAS = 30_000_000  # a block's gas limit on most chains: never ask for more
UINT256 = 2**256
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")


class FeeError(BlockhookError):
    """The node's fee data cannot price a transaction (missing, malformed, or over the cap)."""


@dataclass(frozen=True)
class Fees:
    """EIP-1559 fee fields, in wei per gas."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int


def address(value: Any, what: str = "address") -> str:
    """`value` as a lower-case 0x address; ValueError when it is not one (a mixed-case
    address must carry a valid EIP-55 checksum: a typo there is caught, not paid)."""
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a 0x address of 40 hex digits")
    body = value[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(value):
        raise ValueError(f"{what} {value} has a wrong EIP-55 checksum")
    return value.lower()


def _uint(value: Any, what: str, limit: int = UINT256) -> int:
    """A non-negative int below `limit`; ValueError otherwise (bools are not numbers here)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} {value} is negative")
    if value >= limit:
        raise ValueError(f"{what} {value} does not fit in {limit.bit_length() - 1} bits")
    return value


def erc20_transfer_data(to: str, amount: int) -> str:
    """The calldata of `transfer(to, amount)`: selector, then both words left-padded."""
    recipient = address(to, "recipient")
    value = _uint(amount, "amount")
    return TRANSFER_SELECTOR + recipient[2:].rjust(64, "0") + format(value, "064x")


def _quantity(value: Any, what: str) -> int:
    """A JSON-RPC hex quantity of the node's fee answer; FeeError when malformed."""
    if not isinstance(value, str) or not _QUANTITY.fullmatch(value):
        raise FeeError(f"eth_feeHistory: {what} {value!r} is not a hex quantity")
    return int(value, 16)


def _median(values: list[int]) -> int:
    """The median, rounded down between the two middle values."""
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) // 2


def _rewards(fee_history: dict[str, Any]) -> list[int]:
    """The 50th-percentile reward of each block of the history (none when it has none)."""
    reward = fee_history.get("reward")
    if reward is None:
        return []
    if not isinstance(reward, list):
        raise FeeError("eth_feeHistory: reward is not a list")
    out = []
    for block in reward:
        if not isinstance(block, list):
            raise FeeError("eth_feeHistory: a reward entry is not a list")
        if block:
            out.append(_quantity(block[0], "reward"))
    return out


def fee_plan(
    priority_hint: int | None,
    fee_history: dict[str, Any] | None,
    cap_wei: int | None,
    min_priority_wei: int,
) -> Fees:
    """EIP-1559 fees from the node: the tip it suggests (else the history's median tip), and
    twice the next block's base fee on top, so six full blocks in a row still include it;
    never above the cap. FeeError when the node's answer cannot price it."""
    if not isinstance(fee_history, dict):
        raise FeeError("the node gave no fee history (eth_feeHistory)")
    bases = fee_history.get("baseFeePerGas")
    if not isinstance(bases, list) or not bases:
        raise FeeError("eth_feeHistory: no baseFeePerGas")
    base = _quantity(bases[-1], "baseFeePerGas")  # the one of the next block
    if priority_hint is not None:
        suggested = priority_hint
    else:
        rewards = _rewards(fee_history)
        suggested = _median(rewards) if rewards else 0
    priority = max(min_priority_wei, suggested, 0)
    max_fee = 2 * base + priority
    if cap_wei is not None:
        if base > cap_wei:
            raise FeeError(f"base fee {base} wei is above the cap {cap_wei}")
        max_fee = min(max_fee, cap_wei)
        priority = min(priority, max_fee)
    return Fees(max_fee, priority)


def _raised(value: int) -> int:
    """12.5% more, rounded up, at least one wei more."""
    return value + max(1, -(-value // 8))


def bump(fees: Fees) -> Fees:
    """Fees for a replacement: both fields raised by 12.5% (geth wants 10% on both)."""
    return Fees(_raised(fees.max_fee_per_gas), _raised(fees.max_priority_fee_per_gas))


def unsigned_tx(
    chain_id: int,
    nonce: int,
    sender: str,
    to: str,
    asset_kind: str,
    contract: str | None,
    amount: int,
    gas: int,
    fees: Fees,
) -> dict[str, Any]:
    """The signing request's `tx` object (docs/withdrawals.md) paying `amount` to `to`:
    native pays the recipient directly; erc20 calls the contract's transfer, value 0.
    Big integers are decimal strings; ValueError for anything the chain would not take."""
    _uint(chain_id, "chain id", 2**64)
    _uint(nonce, "nonce", 2**64 - 1)
    _uint(gas, "gas", 2**64)
    address(sender, "sender")
    recipient = address(to, "recipient")
    value = _uint(amount, "amount")
    max_fee = _uint(fees.max_fee_per_gas, "max fee per gas")
    priority = _uint(fees.max_priority_fee_per_gas, "max priority fee per gas")
    if priority > max_fee:
        raise ValueError(f"priority fee {priority} is above the max fee {max_fee}")
    if asset_kind == "native":
        target, wei, data = recipient, value, "0x"
    elif asset_kind == "erc20":
        target, wei, data = address(contract, "contract"), 0, erc20_transfer_data(to, value)
    else:
        raise ValueError(f"asset kind {asset_kind!r} is not native or erc20")
    return {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": target,
        "value": str(wei),
        "data": data,
        "gas": gas,
        "maxFeePerGas": str(max_fee),
        "maxPriorityFeePerGas": str(priority),
    }


def gas_limit(estimate: int, asset_kind: str) -> int:
    """The gas to ask for: a plain transfer's estimate is exact; a token transfer gets 20%
    headroom (its cost moves with the contract's storage between estimate and block)."""
    _uint(estimate, "gas estimate", 2**64)
    if estimate == 0:
        raise ValueError("gas estimate 0 cannot pay for a transaction")
    if asset_kind == "native":
        return estimate
    if asset_kind == "erc20":
        return min(estimate * 6 // 5, MAX_GAS)
    raise ValueError(f"asset kind {asset_kind!r} is not native or erc20")


def to_eth_account_tx(tx: dict[str, Any]) -> dict[str, Any]:
    """The `tx` object in eth_account's form (ints, checksummed `to`, hex data, empty access
    list), for `Account.sign_transaction`: the signer and the tests sign this."""
    return {
        "type": 2,
        "chainId": int(tx["chainId"]),
        "nonce": int(tx["nonce"]),
        "to": to_checksum_address(address(tx["to"], "to")),
        "value": int(tx["value"]),
        "data": str(tx.get("data") or "0x").lower(),
        "gas": int(tx["gas"]),
        "maxFeePerGas": int(tx["maxFeePerGas"]),
        "maxPriorityFeePerGas": int(tx["maxPriorityFeePerGas"]),
        "accessList": [],
    }
