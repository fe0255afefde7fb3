"""Withdrawals (docs/withdrawals.md): API bodies, the record on the withdrawals topic, its
events, and what the signer sends."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.event import (
    BASE_UNITS,
    CHAIN_NAME,
    EVENT_ID,
    LOWER_ADDRESS,
    LOWER_HASH32,
    RFC3339_UTC,
    EventAsset,
)
from schemas.wallet import WALLET_ID, check_user_ref

WITHDRAWAL_ID = r"^wdr_[0-9a-f]{1,64}$"
BATCH_ID = r"^wbt_[0-9a-f]{1,64}$"
SIGNING_ID = r"^sig_[0-9a-f]{1,64}$"
ANY_ADDRESS = r"^0x[0-9a-fA-F]{40}$"
MAX_BATCH = 500

Status = Literal[
    "pending_approval",
    "approved",
    "signing",
    "broadcast",
    "confirmed",
    "rejected",
    "cancelled",
    "failed",
]
WithdrawalEventType = Literal[
    "withdrawal.requested",
    "withdrawal.approved",
    "withdrawal.rejected",
    "withdrawal.cancelled",
    "withdrawal.broadcast",
    "withdrawal.confirmed",
    "withdrawal.failed",
]


class TokenRef(BaseModel):
    """An ERC20 token by its contract."""

    model_config = ConfigDict(extra="forbid", strict=True)
    kind: Literal["erc20"]
    contract: str = Field(pattern=ANY_ADDRESS)


class FromUser(BaseModel):
    """Send from a customer's deposit address."""

    model_config = ConfigDict(extra="forbid", strict=True)
    user_ref: str

    @field_validator("user_ref")
    @classmethod
    def _user_ref(cls, v: str) -> str:
        return check_user_ref(v)


class ItemCreate(BaseModel):
    """One payment: where to, what and how much (base units, a decimal string)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    to: str = Field(pattern=ANY_ADDRESS)
    asset: Literal["native"] | TokenRef
    amount: str = Field(pattern=r"^[1-9][0-9]{0,77}$")
    external_id: str | None = Field(default=None, min_length=1, max_length=128)


class WithdrawalCreate(ItemCreate):
    """Body of POST /v1/withdrawals."""

    wallet_id: str = Field(pattern=WALLET_ID)
    from_: Literal["treasury"] | FromUser = Field(default="treasury", alias="from")
    note: str | None = Field(default=None, max_length=500)


class BatchCreate(BaseModel):
    """Body of POST /v1/withdrawal-batches: 1 to 500 payments from the wallet's treasury."""

    model_config = ConfigDict(extra="forbid", strict=True)
    wallet_id: str = Field(pattern=WALLET_ID)
    items: list[ItemCreate] = Field(min_length=1, max_length=MAX_BATCH)
    external_id: str | None = Field(default=None, min_length=1, max_length=128)
    note: str | None = Field(default=None, max_length=500)


class RejectBody(BaseModel):
    """Body of .../reject: why."""

    model_config = ConfigDict(extra="forbid", strict=True)
    reason: str = Field(min_length=1, max_length=500)


class Approval(BaseModel):
    """One principal's approval."""

    model_config = ConfigDict(extra="forbid", strict=True)
    principal: str
    at: str = Field(pattern=RFC3339_UTC)


class Withdrawal(BaseModel):
    """A withdrawal as the API answers it and the withdrawals topic holds it (keyed by id).

    `status` moves pending_approval → approved → signing → broadcast → confirmed, or ends
    rejected, cancelled or failed (`error` says why); a reorg that drops its transaction takes
    it back to broadcast. `fee` is what its mined transaction paid (base units of the native
    coin), `user_ref` the customer whose address pays (null: the treasury)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(pattern=WITHDRAWAL_ID)
    wallet_id: str = Field(pattern=WALLET_ID)
    batch_id: str | None = Field(pattern=BATCH_ID)
    chain: str = Field(pattern=CHAIN_NAME)
    from_: str = Field(alias="from", pattern=LOWER_ADDRESS)
    user_ref: str | None
    to: str = Field(pattern=LOWER_ADDRESS)
    asset: EventAsset
    amount: str = Field(pattern=BASE_UNITS)
    status: Status
    requested_by: str
    approvals_required: int = Field(ge=2)
    approvals: list[Approval]
    rejected_by: str | None
    reason: str | None
    nonce: int | None = Field(ge=0)
    tx_hash: str | None = Field(pattern=LOWER_HASH32)
    confirmations: int = Field(ge=0)
    fee: str | None = Field(pattern=BASE_UNITS)
    error: str | None
    external_id: str | None
    note: str | None
    created_at: str = Field(pattern=RFC3339_UTC)
    updated_at: str = Field(pattern=RFC3339_UTC)


class WithdrawalEvent(BaseModel):
    """A withdrawal.* event: the withdrawal record with `id` renamed `withdrawal_id`, plus
    `type`, `occurred_at` and a deterministic `id` (the same for the same withdrawal and
    type). Keyed by withdrawal id on the events topic."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(pattern=EVENT_ID)
    type: WithdrawalEventType
    withdrawal_id: str = Field(pattern=WITHDRAWAL_ID)
    wallet_id: str = Field(pattern=WALLET_ID)
    batch_id: str | None = Field(pattern=BATCH_ID)
    chain: str = Field(pattern=CHAIN_NAME)
    from_: str = Field(alias="from", pattern=LOWER_ADDRESS)
    user_ref: str | None
    to: str = Field(pattern=LOWER_ADDRESS)
    asset: EventAsset
    amount: str = Field(pattern=BASE_UNITS)
    status: Status
    requested_by: str
    approvals_required: int = Field(ge=2)
    approvals: list[Approval]
    rejected_by: str | None
    reason: str | None
    nonce: int | None = Field(ge=0)
    tx_hash: str | None = Field(pattern=LOWER_HASH32)
    confirmations: int = Field(ge=0)
    fee: str | None = Field(pattern=BASE_UNITS)
    error: str | None
    external_id: str | None
    note: str | None
    created_at: str = Field(pattern=RFC3339_UTC)
    updated_at: str = Field(pattern=RFC3339_UTC)
    occurred_at: str = Field(pattern=RFC3339_UTC)


class SignerWalletBody(BaseModel):
    """Body of POST /v1/signer/wallets: the signer's account xpub for one chain."""

    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)
    chain: str = Field(min_length=1, max_length=32)
    xpub: str = Field(min_length=1, max_length=1000)


class SigningAnswer(BaseModel):
    """Body of POST /v1/signer/requests/{id}: the signed transaction, or why not."""

    model_config = ConfigDict(extra="forbid", strict=True)
    signed_tx: str | None = Field(
        default=None, pattern=r"^0x([0-9a-fA-F]{2})+$", max_length=262_146
    )
    refused: str | None = Field(default=None, min_length=1, max_length=1000)


class WithdrawalList(BaseModel):
    """A page of withdrawals."""

    model_config = ConfigDict(extra="forbid")
    items: list[Withdrawal]
    cursor: str | None


class BatchAnswer(BaseModel):
    """A batch with its items, as the API answers it."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=BATCH_ID)
    wallet_id: str
    chain: str
    from_: str = Field(alias="from")
    status: Status
    requested_by: str
    approvals_required: int
    approvals: list[Approval]
    rejected_by: str | None
    reason: str | None
    external_id: str | None
    created_at: str
    updated_at: str
    items: list[Withdrawal]


class SignerChains(BaseModel):
    """The chains a signer reports a key for."""

    model_config = ConfigDict(extra="forbid")
    items: list[dict[str, str | int]]


class SigningRequests(BaseModel):
    """Signing requests waiting for this signer (docs/withdrawals.md)."""

    model_config = ConfigDict(extra="allow")
    items: list[dict[str, object]]


class SigningAccepted(BaseModel):
    """The platform took the signer's answer."""

    model_config = ConfigDict(extra="forbid")
    id: str
    accepted: bool
