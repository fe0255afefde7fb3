"""The local policy (TOML) and the checks every request passes before it is signed.

The policy is the defence against a compromised platform (docs/withdrawals.md, "Threat
model"): amount limits per asset, per transaction and per UTC day, destination lists, and
a cap on what one transaction may pay for gas.
Without a policy file there are no limits, but two approvals are still needed."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from eth_utils.address import is_checksum_address

from signer.errors import PolicyError
from signer.request import Request

MIN_APPROVALS = 2
TRANSFER_SELECTOR = "0xa9059cbb"  # transfer(address,uint256)
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}\Z")
_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,77})\Z")
_TOP_KEYS = {"min_approvals", "allowed_destinations", "assets", "max_fee_per_tx"}
_ASSET_KEYS = {"max_per_tx", "max_per_day", "allowed_destinations"}


@dataclass(frozen=True)
class AssetLimits:
    """The limits of one asset; None means no limit (or the global destination list)."""

    max_per_tx: int | None = None
    max_per_day: int | None = None
    allowed_destinations: frozenset[str] | None = None


@dataclass(frozen=True)
class Policy:
    """A parsed policy. `assets` is None without an [assets] table; with one, an asset it
    does not list is refused."""

    min_approvals: int = MIN_APPROVALS
    allowed_destinations: frozenset[str] | None = None
    assets: Mapping[str, AssetLimits] | None = field(default=None)
    # The most one transaction may pay for gas (gas times maxFeePerGas, base units of the
    # chain's coin): without it a compromised platform could burn the coin in fees.
    max_fee_per_tx: int | None = None


def _address(value: object, where: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise PolicyError(f"{where}: {value!r} is not a 0x address of 40 hex digits")
    body = value[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(value):
        raise PolicyError(f"{where}: {value} has a wrong EIP-55 checksum")
    return value.lower()


def _destinations(value: object, where: str) -> frozenset[str]:
    if not isinstance(value, list):
        raise PolicyError(f"{where} must be a list of addresses")
    return frozenset(_address(v, where) for v in value)


def _amount(value: object, where: str) -> int:
    if not isinstance(value, str) or not _DECIMAL.match(value) or int(value) >= 2**256:
        raise PolicyError(f'{where} must be a decimal string of base units, like "1000"')
    return int(value)


def _asset(key: str, table: object) -> tuple[str, AssetLimits]:
    where = f"assets.{key}"
    name = "native" if key == "native" else _address(key, "an [assets] key")
    if not isinstance(table, dict):
        raise PolicyError(f"{where} must be a table")
    unknown = set(table) - _ASSET_KEYS
    if unknown:
        raise PolicyError(f"{where}: unknown keys {sorted(unknown)}")
    limits = AssetLimits(
        max_per_tx=_amount(table["max_per_tx"], f"{where}.max_per_tx")
        if "max_per_tx" in table
        else None,
        max_per_day=_amount(table["max_per_day"], f"{where}.max_per_day")
        if "max_per_day" in table
        else None,
        allowed_destinations=_destinations(
            table["allowed_destinations"], f"{where}.allowed_destinations"
        )
        if "allowed_destinations" in table
        else None,
    )
    return name, limits


def parse(doc: dict[str, Any]) -> Policy:
    """A policy from a TOML document already parsed; PolicyError naming what is wrong."""
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise PolicyError(f"unknown keys {sorted(unknown)}")
    need = doc.get("min_approvals", MIN_APPROVALS)
    if not isinstance(need, int) or isinstance(need, bool):
        raise PolicyError("min_approvals must be an integer")
    if need < MIN_APPROVALS:
        raise PolicyError(f"min_approvals is {need}: it is never below {MIN_APPROVALS}")
    dest = doc.get("allowed_destinations")
    assets: dict[str, AssetLimits] | None = None
    if "assets" in doc:
        if not isinstance(doc["assets"], dict):
            raise PolicyError("assets must be a table")
        assets = {}
        for key, table in doc["assets"].items():
            name, limits = _asset(key, table)
            if name in assets:
                raise PolicyError(f"asset {name} is listed twice")
            assets[name] = limits
    fee_cap = doc.get("max_fee_per_tx")
    return Policy(
        max_fee_per_tx=None if fee_cap is None else _amount(fee_cap, "max_fee_per_tx"),
        min_approvals=need,
        allowed_destinations=None if dest is None else _destinations(dest, "allowed_destinations"),
        assets=None if assets is None else MappingProxyType(assets),
    )


def load(path: str | Path) -> Policy:
    """The policy in a TOML file."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as exc:
        raise PolicyError(f"policy {path}: {exc.strerror or type(exc).__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy {path}: {exc}") from None
    try:
        return parse(doc)
    except PolicyError as exc:
        raise PolicyError(f"policy {path}: {exc}") from None


def transfer_data(to: str, amount: int) -> str:
    """The calldata of an ERC20 `transfer(to, amount)`."""
    return TRANSFER_SELECTOR + to[2:].rjust(64, "0") + format(amount, "064x")


def _pays_exactly(req: Request) -> str | None:
    """Why the transaction does not pay exactly the withdrawal, or None."""
    tx, wd = req.tx, req.withdrawal
    if wd.asset_kind == "native":
        if tx.to != wd.to:
            return f"the transaction pays {tx.to}, not the withdrawal's recipient {wd.to}"
        if tx.value != wd.amount:
            return f"the transaction's value {tx.value} is not the amount {wd.amount}"
        if tx.data != "0x":
            return "a native withdrawal's transaction must carry no data"
        return None
    if tx.to != wd.contract:
        return f"the transaction calls {tx.to}, not the token contract {wd.contract}"
    if tx.value != 0:
        return f"a token withdrawal's transaction has value {tx.value}, not 0"
    if tx.data != transfer_data(wd.to, wd.amount):
        return f"the transaction's data is not transfer({wd.to}, {wd.amount})"
    return None


def check(
    policy: Policy,
    req: Request,
    derived_sender: str,
    spent_today: int,
    chain_id: int | None = None,
) -> str | None:
    """The reason to refuse req, or None to sign it. derived_sender is the address of the
    signer's own key at req.path; spent_today what this asset already took today (other
    withdrawals); chain_id the id the platform gave for req.chain at start."""
    tx, wd = req.tx, req.withdrawal
    if chain_id is None:
        return f"chain {req.chain} was not among the platform's chains at start"
    if req.chain_id != chain_id:
        return f"chain id {req.chain_id} is not {chain_id} of chain {req.chain}"
    if tx.chain_id != chain_id:
        return f"the transaction's chain id {tx.chain_id} is not {chain_id} of chain {req.chain}"
    if wd.chain != req.chain:
        return f"the withdrawal is on chain {wd.chain}, not {req.chain}"
    if req.sender != derived_sender or wd.sender != derived_sender:
        return f"the sender is not {derived_sender}, the signer's key at {req.path}"
    if wd.status != "signing":
        return f"the withdrawal is {wd.status}, not signing"
    problem = _pays_exactly(req)
    if problem is not None:
        return problem
    fee = tx.gas * tx.max_fee_per_gas
    if policy.max_fee_per_tx is not None and fee > policy.max_fee_per_tx:
        return (
            f"the transaction may pay {fee} for gas, above max_fee_per_tx {policy.max_fee_per_tx}"
        )
    need = max(policy.min_approvals, wd.approvals_required, MIN_APPROVALS)
    if len(wd.approvers) < need:
        return f"{len(wd.approvers)} approvals of others than the requester, {need} needed"
    limits = AssetLimits()
    if policy.assets is not None:
        found = policy.assets.get(wd.asset_key)
        if found is None:
            return f"asset {wd.asset_key} is not in the policy"
        limits = found
    if limits.max_per_tx is not None and wd.amount > limits.max_per_tx:
        return f"amount {wd.amount} is above max_per_tx {limits.max_per_tx} of {wd.asset_key}"
    if limits.max_per_day is not None and spent_today + wd.amount > limits.max_per_day:
        return (
            f"amount {wd.amount} with {spent_today} signed today is above max_per_day "
            f"{limits.max_per_day} of {wd.asset_key}"
        )
    allowed = limits.allowed_destinations
    if allowed is None:
        allowed = policy.allowed_destinations
    if allowed is not None and wd.to not in allowed:
        return f"recipient {wd.to} is not in allowed_destinations"
    return None
