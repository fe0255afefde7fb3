"""Records on the blocks topic: normalised blocks and reorg markers (see agents/follower.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.event import BASE_UNITS, CHAIN_NAME, LOWER_ADDRESS, LOWER_HASH32


class Tx(BaseModel):
    """A transaction that carries native value (the only ones a block record keeps)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    hash: str = Field(pattern=LOWER_HASH32)
    index: int = Field(ge=0)
    sender: str = Field(pattern=LOWER_ADDRESS)
    to: str | None = Field(pattern=LOWER_ADDRESS, description="null for a contract creation")
    value: str = Field(pattern=BASE_UNITS, description="wei, as a decimal string")
    status: int = Field(ge=0, description="the receipt's status: 1 success, 0 failure")


class Log(BaseModel):
    """A log of a successful transaction whose topic0 is a transfer event."""

    model_config = ConfigDict(extra="forbid", strict=True)
    tx_hash: str = Field(pattern=LOWER_HASH32)
    log_index: int = Field(ge=0)
    address: str = Field(pattern=LOWER_ADDRESS)
    topics: list[str] = Field(min_length=1, description="lower-case, as the node gave them")
    data: str = Field(pattern=r"^0x", description="lower-case hex, as the node gave it")


class TokenMeta(BaseModel):
    """What a token contract says of itself; null where it does not answer."""

    model_config = ConfigDict(extra="forbid", strict=True)
    symbol: str | None
    decimals: int | None = Field(ge=0, le=255)


class Backfill(BaseModel):
    """Marks a re-scanned block: which backfill, and which monitors it is for (null: all)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(pattern=r"^bf_[0-9a-f]{24}$")
    monitors: list[str] | None


class Block(BaseModel):
    """One normalised block, published by the chain's follower in chain order."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["block"]
    chain: str = Field(pattern=CHAIN_NAME)
    chain_id: int = Field(gt=0)
    number: int = Field(ge=0)
    hash: str = Field(pattern=LOWER_HASH32)
    parent_hash: str = Field(pattern=LOWER_HASH32)
    timestamp: int = Field(ge=0, description="unix seconds")
    transactions: list[Tx]
    logs: list[Log]
    tokens: dict[str, TokenMeta] = Field(
        description="metadata of the fungible-token contracts in logs, by lower-case address"
    )
    backfill: Backfill | None = Field(
        default=None, description="present on blocks re-scanned by a backfill, not live ones"
    )


class OrphanedBlock(BaseModel):
    """A block that left the canonical chain."""

    model_config = ConfigDict(extra="forbid", strict=True)
    number: int = Field(ge=0)
    hash: str = Field(pattern=LOWER_HASH32)


class ReorgMarker(BaseModel):
    """Published before the new canonical blocks when the chain reorganised: every block
    above fork_number that was published is orphaned; the blocks that follow replace them."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["reorg"]
    id: str = Field(pattern=r"^reorg_[0-9a-f]{32}$", description="deterministic per reorg")
    chain: str = Field(pattern=CHAIN_NAME)
    chain_id: int = Field(gt=0)
    fork_number: int = Field(ge=0, description="the highest block still canonical")
    depth: int = Field(ge=1, description="how many blocks were orphaned")
    orphaned: list[OrphanedBlock] = Field(min_length=1)


class WatchMarker(BaseModel):
    """Addresses watched from now on: tells the decode stage, in order with the blocks,
    which transfers to pass on (consumers of blocks may ignore it)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["watch"]
    chain: str = Field(pattern=CHAIN_NAME)
    add: list[str] = Field(min_length=1, max_length=5_000)


BlocksRecord = Annotated[Block | ReorgMarker | WatchMarker, Field(discriminator="type")]
"""A value on the blocks topic: a block, a reorg marker or a watch marker, told apart by
`type`."""
