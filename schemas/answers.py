"""The API's answers that are not a topic's record as it is: pages, and the records with
what the API adds to them. The OpenAPI document is generated from these."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.delivery import Delivery
from schemas.event import EventAsset
from schemas.monitor import Monitor
from schemas.session import SessionAsset
from schemas.wallet import Assignment


class ErrorBody(BaseModel):
    """What an error says: a snake_case code, a message, the field it concerns."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    message: str
    field: str | None = None


class Error(BaseModel):
    """Every 4xx (and 5xx) answer."""

    error: ErrorBody


class WalletAnswer(BaseModel):
    """A wallet with what follows from its key (account, paths, fingerprints, monitor)."""

    model_config = ConfigDict(extra="allow")
    id: str
    chain: str
    xpub: str
    label: str
    monitor_id: str


class SessionAnswer(BaseModel):
    """A deposit session with its live status, payment URI and checkout page."""

    model_config = ConfigDict(extra="allow")
    id: str
    wallet_id: str
    user_ref: str
    address: str
    asset: SessionAsset
    amount: str | None
    expires_at: str
    status: str
    uri: str
    checkout_url: str


class Balance(BaseModel):
    """A customer's confirmed balance of one asset (base units, as a decimal string)."""

    wallet_id: str
    user_ref: str
    asset: EventAsset | dict[str, Any]
    amount: str = Field(pattern=r"^[0-9]+$")


class MonitorAnswer(Monitor):
    """A monitor as the API answers it: `addresses` is its whole list (its own and its
    chunks') up to 25,000. Past that, `addresses` is the monitor's own list, and the two
    fields below say so (read the whole list from /v1/monitors/{id}/addresses)."""

    address_count: int | None = Field(default=None, ge=0)
    addresses_truncated: bool | None = None


class MonitorList(BaseModel):
    items: list[MonitorAnswer]
    cursor: str | None = None


class AddressList(BaseModel):
    items: list[str]
    cursor: str | None = None


class WalletList(BaseModel):
    items: list[WalletAnswer]
    cursor: str | None = None


class AssignmentList(BaseModel):
    items: list[Assignment]
    cursor: str | None = None


class DeliveryList(BaseModel):
    items: list[Delivery]
    cursor: str | None = None


class BalanceList(BaseModel):
    items: list[Balance]
    totals: list[dict[str, Any]]
    cursor: str | None = None
