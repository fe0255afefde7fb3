"""API keys: making one, its record on the keys topic, and the checked form workers hold.

The record on the topic carries the secret only sealed under the master key; the public form
(what `GET /v1/keys` lists) carries none of it."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.timefmt import iso_utc
from streams.ipallow import Network, parse_network
from streams.secretbox import SecretBox, SecretBoxError

SECRET_PREFIX = "bhsk_"
PUBLIC_FIELDS = (
    "id",
    "principal",
    "roles",
    "allowed_ips",
    "expires_at",
    "created_at",
    "last_used_at",
    "revoked",
)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(12)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def parse_rules(rules: Sequence[str]) -> list[Network]:
    """The allowlist's rules, or ValueError naming the first that is not CIDR."""
    out = []
    for rule in rules:
        try:
            out.append(parse_network(rule))
        except ValueError as exc:
            raise ValueError(f"{rule!r} is not an IPv4 or IPv6 CIDR rule: {exc}") from None
    return out


def make_key(
    box: SecretBox,
    principal: str,
    roles: Sequence[str],
    allowed_ips: Sequence[str],
    expires_at: str | None,
    now: float,
) -> tuple[dict[str, Any], str]:
    """A new key's topic record and its secret (to be shown once). ValueError for a bad
    allowlist rule."""
    rules = [str(n) for n in parse_rules(allowed_ips)]
    key_id, secret = new_key_id(), new_secret()
    record = {
        "id": key_id,
        "principal": principal,
        "roles": list(roles),
        "allowed_ips": rules,
        "expires_at": expires_at,
        "created_at": iso_utc(now),
        "last_used_at": None,
        "revoked": False,
        "revoked_at": None,
        "secret_sealed": box.seal(secret.encode(), key_id),
    }
    return record, secret


def revoked(record: dict[str, Any], now: float) -> dict[str, Any]:
    """The record of the key once revoked."""
    return {**record, "revoked": True, "revoked_at": record.get("revoked_at") or iso_utc(now)}


def resealed(record: dict[str, Any], box: SecretBox) -> dict[str, Any] | None:
    """The record with its secret sealed under the current master key, or None if it is
    already."""
    sealed = record.get("secret_sealed")
    if not box.needs_reseal(sealed):
        return None
    plain = box.open(sealed, str(record["id"]))
    return {**record, "secret_sealed": box.seal(plain, str(record["id"]))}


def public(record: dict[str, Any], last_used: float | None = None) -> dict[str, Any]:
    """The key as the API shows it (never the secret)."""
    out = {k: record.get(k) for k in PUBLIC_FIELDS}
    if last_used is not None:
        out["last_used_at"] = iso_utc(last_used)
    out["revoked"] = bool(out["revoked"])
    return out


def _epoch(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a worker checks a request against: the opened secret lives only in memory."""

    id: str
    principal: str
    roles: tuple[str, ...]
    allowed_ips: tuple[Network, ...]
    expires_at: float | None
    revoked: bool
    secret: str

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def key_info(record: dict[str, Any], box: SecretBox) -> KeyInfo:
    """The checked form of a topic record; SecretBoxError or ValueError if it is not one."""
    key_id = str(record["id"])
    secret = box.open(record.get("secret_sealed"), key_id).decode()
    try:
        rules = tuple(parse_rules(list(record.get("allowed_ips") or [])))
        expires = _epoch(record.get("expires_at"))
    except ValueError as exc:
        raise SecretBoxError(f"key {key_id}: {exc}") from None
    return KeyInfo(
        key_id,
        str(record["principal"]),
        tuple(str(r) for r in record.get("roles") or ()),
        rules,
        expires,
        bool(record.get("revoked")),
        secret,
    )
