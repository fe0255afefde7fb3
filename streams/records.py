"""Shapes of the chain data that travels between stages (TypedDicts over plain JSON)."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

AssetKindT = Literal["native", "erc20", "erc721", "erc1155"]


class TxRecord(TypedDict):
    """A value-carrying transaction of a normalised block."""

    hash: str
    index: int
    sender: str
    to: str | None
    value: str
    status: int


class LogRecord(TypedDict):
    """A log that looks like a token transfer (filtered by topic0)."""

    tx_hash: str
    log_index: int
    address: str
    topics: list[str]
    data: str


class TokenMeta(TypedDict):
    """What a token contract says of itself (None where it does not answer)."""

    symbol: str | None
    decimals: int | None


class BlockRecord(TypedDict):
    """One normalised block on the blocks topic."""

    chain: str
    chain_id: int
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    transactions: list[TxRecord]
    logs: list[LogRecord]
    tokens: dict[str, TokenMeta]


class Asset(TypedDict):
    """The asset of a transfer, as in events."""

    kind: AssetKindT
    contract: str | None
    symbol: str | None
    decimals: int | None
    token_id: str | None


class Transfer(TypedDict):
    """One decoded transfer of one asset between two addresses."""

    key: str
    tx_hash: str
    log_index: int | None
    sub_index: int
    block_number: int
    block_hash: str
    timestamp: int
    sender: str
    to: str
    asset: Asset
    amount: str


class Owner(TypedDict):
    """Who a derived address belongs to: the wallet and the customer reference."""

    wallet_id: str
    user_ref: str | None


class Match(TypedDict):
    """A transfer routed to one watched address, with the side that address is on."""

    address: str
    side: Literal["in", "out"]
    transfer: Transfer
    owner: NotRequired[Owner | None]


class MonitorCfg(TypedDict):
    """The part of a monitor the tracker needs (no address lists)."""

    id: str
    chain: str
    assets: list[str]
    tokens: list[str]
    direction: Literal["in", "out", "both"]
    min_amount: str
    confirmations: int
    notify: Literal["threshold", "every_confirmation"]
    active: bool
    wallet_ids: NotRequired[list[str]]
    webhook: NotRequired[dict[str, str | None] | None]
    retry: NotRequired[dict[str, object] | None]
    handler: NotRequired[dict[str, object] | None]  # python/command handlers (delivery)
