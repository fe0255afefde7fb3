"""Records on the deliveries.dlq topic: a delivery the retry policy gave up on."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.event import RFC3339_UTC, Event
from schemas.monitor import MONITOR_ID, Retry


class Attempt(BaseModel):
    """One delivery attempt."""

    model_config = ConfigDict(extra="forbid", strict=True)
    at: str = Field(pattern=RFC3339_UTC)
    status_code: int | None = Field(description="null when no HTTP answer came")
    latency_ms: int = Field(ge=0)
    error: str | None = Field(description="null for a 2xx answer")
    response: str | None = Field(description="the start of the answer's body, if any")


class DeadLetter(BaseModel):
    """The event, where it was to go, and every attempt made. Keyed by event id.

    The webhook secret is not part of it: whoever reads the dead-letter topic must not
    learn how to sign webhooks.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(pattern=r"^dlv_[0-9a-f]{1,64}$")
    event: Event
    monitor_id: str = Field(pattern=MONITOR_ID.pattern)
    url: str = Field(min_length=1, max_length=2048)
    status: Literal["failed"]
    retry: Retry | None = Field(description="the monitor's policy; null: the settings' default")
    attempts: list[Attempt] = Field(min_length=1)
    first_at: float = Field(description="unix seconds of the first attempt")
    next_attempt_at: float | None = Field(
        default=None, description="unix seconds the last retry was due (absent if none was)"
    )
    redelivery_of: str | None
