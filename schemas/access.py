"""Access control records: API keys (the API's bodies and the keys topic) and audit records."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.event import RFC3339_UTC

KEY_ID = re.compile(r"^key_[A-Za-z0-9]{8,64}$")
PRINCIPAL = r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$"
Role = Literal["viewer", "operator", "approver", "admin", "signer"]
Outcome = Literal["ok", "refused", "error"]


class KeyCreate(BaseModel):
    """The body of `POST /v1/keys`."""

    model_config = ConfigDict(extra="forbid")
    principal: str = Field(pattern=PRINCIPAL, description="the person or service holding it")
    roles: list[Role] = Field(min_length=1, max_length=5)
    allowed_ips: list[str] = Field(
        default_factory=list,
        max_length=256,
        description="IPv4 and IPv6 CIDR rules; empty allows any address",
    )
    expires_at: str | None = Field(default=None, pattern=RFC3339_UTC)

    @field_validator("roles")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class Key(BaseModel):
    """An API key as the API shows it: never its secret, except once at creation."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=KEY_ID.pattern)
    principal: str
    roles: list[Role]
    allowed_ips: list[str]
    expires_at: str | None
    created_at: str = Field(pattern=RFC3339_UTC)
    last_used_at: str | None
    revoked: bool
    secret: str | None = Field(
        default=None, description="`bhsk_...`, in the answer to its creation only"
    )


class KeyList(BaseModel):
    """A page of keys."""

    items: list[Key]
    cursor: str | None = None


class AuditRecord(BaseModel):
    """One record of the audit log, hash-chained to the one before it."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^aud_[A-Za-z0-9_-]{8,64}$")
    seq: int = Field(ge=1, description="counts from 1 with no gap")
    at: str = Field(pattern=RFC3339_UTC)
    principal: str = Field(description="the key's principal; `anonymous` if no key was known")
    key_id: str | None
    ip: str | None
    action: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$", description="`<resource>.<verb>`")
    target: str | None
    request_id: str
    outcome: Outcome
    status: int
    detail: dict[str, Any] = Field(description="never a secret, a signature or a private key")
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 hex of prev_hash followed by the record without `hash` as JSON "
        "(sorted keys, no spaces, UTF-8 unescaped)",
    )


class AuditList(BaseModel):
    """A page of audit records."""

    items: list[AuditRecord]
    cursor: str | None = None


class AuditVerdict(BaseModel):
    """The answer of `GET /v1/audit/verify`."""

    ok: bool
    records: int
    head: str
    bad_seq: int | None = None
    reason: str | None = None
