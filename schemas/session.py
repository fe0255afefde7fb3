"""Deposit sessions: what POST /v1/sessions accepts and what travels on the sessions topic."""

from __future__ import annotations

import secrets
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.types import normalize_address
from schemas.wallet import WALLET_ID, check_user_ref

SESSION_ID = r"^ses_[A-Za-z0-9_-]{1,64}$"
DEFAULT_EXPIRES_IN_S = 3600
MAX_EXPIRES_IN_S = 30 * 86_400


def new_session_id() -> str:
    """A fresh random session id (unguessable: it is the checkout page's address)."""
    return "ses_" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")


class AssetSpec(BaseModel):
    """The asset to pay: native, or an ERC20 token by contract (symbol/decimals optional:
    read from the chain when missing)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    kind: Literal["native", "erc20"]
    contract: str | None = None
    symbol: str | None = Field(default=None, max_length=32)
    decimals: int | None = Field(default=None, ge=0, le=77)

    @field_validator("contract")
    @classmethod
    def _contract(cls, v: str | None) -> str | None:
        return None if v is None else normalize_address(v)

    @model_validator(mode="after")
    def _needs_contract(self) -> AssetSpec:
        if self.kind == "erc20" and self.contract is None:
            raise ValueError("an erc20 asset needs its contract address")
        if self.kind == "native" and self.contract is not None:
            raise ValueError("the native asset has no contract")
        return self


class SessionCreate(BaseModel):
    """Body of POST /v1/sessions. `asset` is "native", a token contract address, or an
    AssetSpec object; `amount` is in base units (a decimal string)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    wallet_id: str = Field(pattern=WALLET_ID)
    user_ref: str
    asset: AssetSpec | str = "native"
    amount: str | None = Field(default=None, pattern=r"^[0-9]{1,78}$")
    expires_in: int | None = Field(default=None, ge=1, le=MAX_EXPIRES_IN_S)
    label: str = Field(default="", max_length=200)

    @field_validator("user_ref")
    @classmethod
    def _user_ref(cls, v: str) -> str:
        return check_user_ref(v)

    @field_validator("asset")
    @classmethod
    def _asset(cls, v: AssetSpec | str) -> AssetSpec | str:
        if isinstance(v, str) and v != "native":
            try:
                normalize_address(v)
            except ValueError as exc:
                raise ValueError(
                    'asset must be "native", a token contract address or {"kind", "contract"}'
                ) from exc
        return v

    @field_validator("amount")
    @classmethod
    def _positive(cls, v: str | None) -> str | None:
        if v is not None and int(v) == 0:
            raise ValueError("amount must be above zero (omit it for any amount)")
        return v if v is None else str(int(v))

    def asset_spec(self) -> AssetSpec:
        """The asset as an AssetSpec (strings expanded)."""
        if isinstance(self.asset, AssetSpec):
            return self.asset
        if self.asset == "native":
            return AssetSpec(kind="native")
        return AssetSpec(kind="erc20", contract=normalize_address(self.asset))


class SessionAsset(BaseModel):
    """The asset as in events."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["native", "erc20"]
    contract: str | None
    symbol: str | None
    decimals: int | None
    token_id: None = None


class Session(BaseModel):
    """A deposit session on the sessions topic (keyed by its id)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=SESSION_ID)
    wallet_id: str = Field(pattern=WALLET_ID)
    user_ref: str
    chain: str
    chain_id: int
    address: str
    index: int
    path: str
    asset: SessionAsset
    amount: str | None
    label: str = ""
    created_at: str
    created_ms: int
    expires_at: str
    expires_ms: int
