"""Events (docs/interface.md, "Events"): what goes to webhooks and to the events topic."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.monitor import MONITOR_ID

LOWER_ADDRESS = r"^0x[0-9a-f]{40}$"
LOWER_HASH32 = r"^0x[0-9a-f]{64}$"
CHAIN_NAME = r"^[a-z][a-z0-9_-]{0,31}$"
BASE_UNITS = r"^[0-9]{1,78}$"
RFC3339_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
EVENT_ID = r"^evt_[0-9a-f]{1,64}$"

EventType = Literal[
    "transfer.seen", "transfer.confirming", "transfer.confirmed", "transfer.reverted"
]


class EventAsset(BaseModel):
    """The asset moved: native coin or a token contract (with its id for NFTs)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    kind: Literal["native", "erc20", "erc721", "erc1155"]
    contract: str | None = Field(
        pattern=LOWER_ADDRESS, description="token contract; null for the native coin"
    )
    symbol: str | None = Field(description="what the contract or chain calls it; null if unknown")
    decimals: int | None = Field(ge=0, le=255, description="null if the contract does not say")
    token_id: str | None = Field(
        pattern=BASE_UNITS, description="decimal token id (erc721, erc1155); null otherwise"
    )


class Event(BaseModel):
    """One state change of one transfer seen by one monitor.

    Every field is always present (nullable ones as null). `id` is deterministic: the same
    transfer (in the same block), monitor, side and type give the same id, so receivers
    can drop duplicates.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(pattern=EVENT_ID)
    type: EventType
    monitor_id: str = Field(pattern=MONITOR_ID.pattern)
    chain: str = Field(pattern=CHAIN_NAME)
    chain_id: int = Field(gt=0)
    tx_hash: str = Field(pattern=LOWER_HASH32)
    log_index: int | None = Field(ge=0, description="null for a native transfer")
    block_number: int = Field(ge=0)
    block_hash: str = Field(pattern=LOWER_HASH32)
    from_: str = Field(alias="from", pattern=LOWER_ADDRESS)
    to: str = Field(pattern=LOWER_ADDRESS)
    direction: Literal["in", "out"] = Field(
        description="the side of the transfer the watched address is on"
    )
    asset: EventAsset
    amount: str = Field(pattern=BASE_UNITS, description="decimal string of base units")
    confirmations: int = Field(
        ge=0, description="blocks on top of the transfer's, counting its own; 0 when reverted"
    )
    required_confirmations: int = Field(ge=1)
    credited: bool = Field(description="true exactly for transfer.confirmed")
    wallet_id: str | None
    user_ref: str | None
    occurred_at: str = Field(pattern=RFC3339_UTC, description="the block's time, UTC")
