"""Wallet records (the wallets topic), address requests and assignments (internal topics)."""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.event import CHAIN_NAME, LOWER_ADDRESS

WALLET_ID = r"^wal_[A-Za-z0-9_-]{1,64}$"
MAX_USER_REF = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def wallet_id_for(chain: str, xpub: str) -> str:
    """Deterministic: the same key on the same chain is always the same wallet, so two
    registrations can never hand out one address to two customers."""
    return "wal_" + hashlib.sha256(f"{chain}\x00{xpub}".encode()).hexdigest()[:24]


def wallet_monitor_id(wallet_id: str) -> str:
    """The monitor every wallet gets at registration (no webhook: balances and checkout)."""
    return "mon_" + wallet_id


def check_user_ref(v: str) -> str:
    """A customer reference: 1..128 characters, no control characters, no outer spaces."""
    if not v:
        raise ValueError("user_ref must not be empty")
    if len(v) > MAX_USER_REF:
        raise ValueError(f"user_ref must be at most {MAX_USER_REF} characters")
    if _CONTROL.search(v):
        raise ValueError("user_ref must not contain control characters")
    if v != v.strip():
        raise ValueError("user_ref must not start or end with white space")
    return v


class WalletCreate(BaseModel):
    """Body of POST /v1/wallets. The key is checked by chain.hd, never echoed in errors."""

    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)
    chain: str = Field(min_length=1, max_length=32)
    xpub: str = Field(min_length=1, max_length=1000)
    label: str = Field(default="", max_length=200)


class Wallet(BaseModel):
    """A registered account-level extended public key (never a private key), keyed by id.
    The API's answers add what follows from the key: account, path, address_path,
    fingerprint, parent_fingerprint, monitor_id."""

    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)
    id: str = Field(pattern=WALLET_ID)
    chain: str = Field(pattern=CHAIN_NAME)
    xpub: str = Field(
        min_length=100,
        max_length=120,
        pattern=r"^[xt]pub[1-9A-HJ-NP-Za-km-z]+$",
        description="a base58 account-level extended public key (xpub..., or tpub... on a "
        "testnet chain) of m/44'/60'/account'",
    )
    label: str = Field(default="", max_length=200)
    source: Literal["api", "signer"] = Field(
        default="api",
        description="`signer`: reported by a blockhook-signer, which can pay out from it",
    )
    treasury: str | None = Field(
        default=None,
        pattern=LOWER_ADDRESS,
        description="a signer wallet's treasury, its address m/44'/60'/account'/1/0",
    )
    signer: str | None = Field(
        default=None, max_length=128, description="the principal whose signer reported it"
    )


class AddressRequest(BaseModel):
    """Body of POST /v1/wallets/{id}/addresses."""

    model_config = ConfigDict(extra="forbid", strict=True)
    user_ref: str

    @field_validator("user_ref")
    @classmethod
    def _user_ref(cls, v: str) -> str:
        return check_user_ref(v)


class Assignment(BaseModel):
    """One address given to one customer (the wallets.addresses topic, key wallet_id:user_ref)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    wallet_id: str = Field(pattern=WALLET_ID)
    user_ref: str = Field(min_length=1, max_length=MAX_USER_REF)
    chain: str
    address: str = Field(pattern=r"^0x[0-9a-f]{40}$")
    index: int = Field(ge=0, lt=2**31)
    path: str
