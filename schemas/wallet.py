"""Wallet records on the wallets topic (a placeholder until wallets are built)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.event import CHAIN_NAME

WALLET_ID = r"^wal_[A-Za-z0-9_-]{1,64}$"


class Wallet(BaseModel):
    """A registered extended public key (never a private key)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(pattern=WALLET_ID)
    chain: str = Field(pattern=CHAIN_NAME)
    xpub: str = Field(
        min_length=4,
        max_length=200,
        pattern=r"^[1-9A-HJ-NP-Za-km-z]+$",
        description="a base58 extended public key (xpub...)",
    )
    label: str = Field(default="", max_length=200)
