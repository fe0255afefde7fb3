"""Delivery records: the delivery log (/v1/deliveries) and the deliveries.dlq topic."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.event import RFC3339_UTC, Event
from schemas.monitor import MONITOR_ID, Retry

DELIVERY_ID = r"^dlv_[0-9a-f]{1,64}$"


class Attempt(BaseModel):
    """One delivery attempt."""

    model_config = ConfigDict(extra="forbid", strict=True)
    at: str = Field(pattern=RFC3339_UTC)
    status_code: int | None = Field(description="null when no HTTP answer came (or no HTTP)")
    latency_ms: int = Field(ge=0)
    error: str | None = Field(description="null for a success")
    response: str | None = Field(
        default=None, description="the start of the answer's body (or command output), capped"
    )


class Delivery(BaseModel):
    """One delivery of one event to one monitor's webhook or handler, as /v1/deliveries
    lists it (docs/interface.md), with the event's type and kind of handler besides."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(pattern=DELIVERY_ID)
    event_id: str
    event_type: str | None = None
    monitor_id: str = Field(pattern=MONITOR_ID.pattern)
    kind: Literal["webhook", "python", "command"] = "webhook"
    url: str = Field(description="the webhook URL, or python:<target> / command:<program>")
    status: Literal["pending", "delivered", "failed"]
    attempts: list[Attempt]
    next_attempt_at: str | None = Field(pattern=RFC3339_UTC)
    redelivery_of: str | None
    updated_at: str | None = Field(default=None, pattern=RFC3339_UTC)
    event: Event | None = Field(default=None, description="only on GET /v1/deliveries/{id}")


class DeadLetter(BaseModel):
    """The event, where it was to go, and every attempt made. Keyed by event id.

    The webhook secret is not part of it: whoever reads the dead-letter topic must not
    learn how to sign webhooks.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(pattern=DELIVERY_ID)
    event: Event
    monitor_id: str = Field(pattern=MONITOR_ID.pattern)
    kind: Literal["webhook", "python", "command"] = "webhook"
    url: str = Field(min_length=1, max_length=2048)
    status: Literal["failed"]
    retry: Retry | None = Field(description="the monitor's policy; null: the settings' default")
    attempts: list[Attempt] = Field(min_length=1)
    first_at: str | None = Field(pattern=RFC3339_UTC, description="time of the first attempt")
    next_attempt_at: None = Field(default=None, description="always null: no attempt follows")
    redelivery_of: str | None
