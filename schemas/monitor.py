"""Monitor records: what the API accepts and what travels on the monitors topic."""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.settings import ChainSettings
from schemas.types import normalize_address

MONITOR_ID = re.compile(r"^mon_[A-Za-z0-9_-]{1,64}$")
MAX_ADDRESSES = 1_000_000
AssetKind = Literal["native", "erc20", "erc721", "erc1155"]
ALL_ASSETS: list[AssetKind] = ["native", "erc20", "erc721", "erc1155"]


def new_monitor_id() -> str:
    """A fresh random monitor id."""
    return "mon_" + secrets.token_hex(12)


def new_secret() -> str:
    """A fresh Standard Webhooks secret: whsec_ + base64 of 24 random bytes."""
    import base64

    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class Webhook(BaseModel):
    """Where events go and the secret that signs them."""

    model_config = ConfigDict(extra="forbid", strict=True)
    url: str = Field(min_length=1, max_length=2048)
    secret: str | None = Field(default=None, max_length=200)
    # Secret rotation (set by PATCH when the secret changes): the previous secret signs too,
    # beside the new one, until it expires.
    previous_secret: str | None = Field(default=None, max_length=200)
    previous_secret_expires_at: str | None = Field(
        default=None, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("webhook url must be an absolute http(s) URL")
        if parts.username or parts.password:
            raise ValueError("webhook url must not carry credentials")
        return v

    @field_validator("secret", "previous_secret")
    @classmethod
    def _secret(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import base64
        import binascii

        if not v.startswith("whsec_"):
            raise ValueError("secret must start with whsec_")
        try:
            raw = base64.b64decode(v[6:], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("secret must be whsec_ followed by base64") from exc
        if not 24 <= len(raw) <= 64:
            raise ValueError("secret must hold 24 to 64 bytes")
        return v


class PythonHandler(BaseModel):
    """An in-process Python callback: 'package.module:function', called with the event
    (sync or async); an exception is a failed attempt. Allowed by delivery.python_handlers."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["python"]
    target: str = Field(
        max_length=300,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_.]*$",
    )


class CommandHandler(BaseModel):
    """A command run without a shell, the event in BLOCKHOOK_EVENT_TYPE and BLOCKHOOK_EVENT;
    exit status 0 is success. Its program must be listed in delivery.command_handlers."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["command"]
    argv: list[str] = Field(min_length=1, max_length=100)
    timeout_s: float | None = Field(default=None, gt=0, le=3600)


Handler = Annotated[PythonHandler | CommandHandler, Field(discriminator="kind")]


class Retry(BaseModel):
    """A per-monitor retry policy: a fixed interval with a maximum age, or explicit delays."""

    model_config = ConfigDict(extra="forbid", strict=True)
    interval_s: float | None = Field(default=None, gt=0, le=86_400)
    max_age_s: float | None = Field(default=None, gt=0, le=30 * 86_400)
    delays_s: list[float] | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_kind(self) -> Retry:
        fixed = self.interval_s is not None or self.max_age_s is not None
        if fixed and self.delays_s is not None:
            raise ValueError("give either interval_s/max_age_s or delays_s, not both")
        if not fixed and self.delays_s is None:
            raise ValueError("give interval_s and max_age_s, or delays_s")
        if self.delays_s is not None and any(d < 0 or d > 86_400 for d in self.delays_s):
            raise ValueError("each delay must be between 0 and 86400 seconds")
        return self


def unique_addresses(v: list[str]) -> list[str]:
    """Addresses normalised (lower case), each once, in their first order."""
    out: list[str] = []
    seen: set[str] = set()
    for i, a in enumerate(v):
        try:
            n = normalize_address(a)
        except ValueError as exc:
            raise ValueError(f"item {i}: {exc}") from exc
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out


class MonitorFields(BaseModel):
    """The fields a client may set on a monitor (shared by create and topic records)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(default="", max_length=200)
    chain: str = Field(min_length=1, max_length=32)
    addresses: list[str] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    wallet_ids: list[str] = Field(default_factory=list, max_length=1000)
    assets: list[AssetKind] = Field(default_factory=lambda: list(ALL_ASSETS), min_length=1)
    tokens: list[str] = Field(default_factory=list, max_length=10_000)
    direction: Literal["in", "out", "both"] = "in"
    min_amount: str = Field(default="0", pattern=r"^[0-9]{1,78}$")
    confirmations: int | None = Field(default=None, ge=1, le=10_000)
    notify: Literal["threshold", "every_confirmation"] = "threshold"
    start_block: int | None = Field(default=None, ge=0)
    webhook: Webhook | None = None
    handler: Handler | None = None
    retry: Retry | None = None
    active: bool = True

    @model_validator(mode="after")
    def _one_target(self) -> MonitorFields:
        if self.webhook is not None and self.handler is not None:
            raise ValueError("give either webhook or handler, not both")
        return self

    @field_validator("addresses", "tokens")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        return unique_addresses(v)


class MonitorCreate(MonitorFields):
    """Body of POST /v1/monitors."""

    id: str | None = Field(default=None, pattern=MONITOR_ID.pattern)


class Monitor(MonitorFields):
    """A monitor as stored on the monitors topic and returned by the API."""

    id: str = Field(pattern=MONITOR_ID.pattern)
    confirmations: int = Field(ge=1, le=10_000)


# A chunk of a monitor's addresses holds at most this many (the API writes 10,000 a chunk;
# 25,000 is about 1.1 MB of JSON, near the broker's default message limit).
MAX_CHUNK = 25_000


class MonitorChunk(BaseModel):
    """One chunk of a monitor's addresses on the monitors.addresses topic, keyed
    `<monitor_id>:<chunk>`; a null value deletes the chunk. With `base`, a write applies
    only over that version (the `digest` acknowledged on monitors.applied), or only where
    there is no chunk yet for `"none"`; otherwise it is refused, so two writers editing one
    chunk at once cannot lose each other's addresses."""

    model_config = ConfigDict(extra="forbid", strict=True)
    monitor_id: str = Field(pattern=MONITOR_ID.pattern)
    chunk: int = Field(ge=0, le=999_999_999)
    chain: str = Field(min_length=1, max_length=32)
    addresses: list[str] = Field(max_length=MAX_CHUNK)
    base: str | None = Field(default=None, pattern=r"^([0-9a-f]{64}|none)$")

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        return unique_addresses(v)


class MonitorPatch(BaseModel):
    """Body of PATCH /v1/monitors/{id}: any field but id and chain, plus list edits."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str | None = Field(default=None, max_length=200)
    addresses: list[str] | None = Field(default=None, max_length=MAX_ADDRESSES)
    add_addresses: list[str] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    remove_addresses: list[str] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    wallet_ids: list[str] | None = None
    assets: list[AssetKind] | None = Field(default=None, min_length=1)
    tokens: list[str] | None = None
    direction: Literal["in", "out", "both"] | None = None
    min_amount: str | None = Field(default=None, pattern=r"^[0-9]{1,78}$")
    confirmations: int | None = Field(default=None, ge=1, le=10_000)
    notify: Literal["threshold", "every_confirmation"] | None = None
    webhook: Webhook | None = None
    handler: Handler | None = None
    retry: Retry | None = None
    active: bool | None = None

    @field_validator("addresses", "add_addresses", "remove_addresses", "tokens")
    @classmethod
    def _addresses(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        return [normalize_address(a) for a in v]


class MonitorRejected(ValueError):
    """A monitor that cannot be accepted, with the field at fault."""

    def __init__(self, code: str, message: str, field: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def finalize_monitor(
    data: dict[str, Any], chain: ChainSettings | None, known_chains: str, make_secret: bool
) -> dict[str, Any]:
    """Complete and check a monitor against its chain: default confirmations, a webhook
    secret (generated by the API; required on records published straight to the topic)."""
    if chain is None:
        raise MonitorRejected(
            "unknown_chain", f"unknown chain {data.get('chain')!r} (known: {known_chains})", "chain"
        )
    data = dict(data)
    if data.get("confirmations") is None:
        data["confirmations"] = chain.confirmations
    hook = data.get("webhook")
    if isinstance(hook, dict) and not hook.get("secret"):
        if not make_secret:
            raise MonitorRejected("invalid_field", "webhook.secret is required", "webhook.secret")
        data["webhook"] = {**hook, "secret": new_secret()}
    if isinstance(data["confirmations"], int) and data["confirmations"] > chain.finality_depth:
        raise MonitorRejected(
            "invalid_field",
            f"confirmations must be at most the chain's finality_depth ({chain.finality_depth})",
            "confirmations",
        )
    try:
        return Monitor.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err.get("loc", ())) or None
        raise MonitorRejected("invalid_field", str(err.get("msg", "invalid")), field) from exc
