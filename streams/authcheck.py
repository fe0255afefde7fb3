"""The checks a signed request passes before its handler, in order, and the refusal of each.

Authentication first (the key, the signature, the clock), then authorisation (the address,
the role); nonces and rate limits are state kept by the caller. Every refusal carries the
contract's status and code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from streams.apikeys import KeyInfo
from streams.ipallow import Address, allowed
from streams.reqsign import NONCE_RE, TIMESTAMP_RE, signature_ok, timestamp_fresh
from streams.roles import may

HEADERS = ("bh-key", "bh-timestamp", "bh-nonce", "bh-signature")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request turned away: the answer it gets and what the audit log says of it."""

    status: int
    code: str
    message: str
    field: str | None = None
    retry_after: int | None = None


def unauthenticated(message: str, field: str | None = None) -> Refusal:
    return Refusal(401, "unauthenticated", message, field)


REPLAYED = Refusal(401, "replayed", "this nonce was already used with this key", "bh-nonce")


@dataclass(frozen=True, slots=True)
class Signed:
    """The signature headers of a request, as sent."""

    key_id: str
    timestamp: str
    nonce: str
    signature: str


def signed_headers(headers: Mapping[str, str]) -> Signed | Refusal:
    """The four headers, or the refusal naming the first missing or malformed one."""
    values = {}
    for name in HEADERS:
        value = headers.get(name)
        if not value:
            return unauthenticated(f"missing header {name}: requests must be signed", name)
        values[name] = value
    if not TIMESTAMP_RE.fullmatch(values["bh-timestamp"]):
        return unauthenticated("bh-timestamp must be unix seconds", "bh-timestamp")
    if not NONCE_RE.fullmatch(values["bh-nonce"]):
        return unauthenticated("bh-nonce must be 1 to 64 of A-Z a-z 0-9 _ -", "bh-nonce")
    return Signed(
        values["bh-key"], values["bh-timestamp"], values["bh-nonce"], values["bh-signature"]
    )


def authenticate(
    signed: Signed,
    key: KeyInfo | None,
    method: str,
    path_and_query: str,
    body: bytes,
    now: float,
) -> Refusal | None:
    """None if the key is live and the signature right and fresh."""
    if key is None:
        return unauthenticated("unknown key", "bh-key")
    if key.revoked:
        return unauthenticated("this key is revoked", "bh-key")
    if key.expired(now):
        return unauthenticated("this key has expired", "bh-key")
    if not signature_ok(
        key.secret, signed.signature, signed.timestamp, signed.nonce, method, path_and_query, body
    ):
        return unauthenticated("the signature does not match the request", "bh-signature")
    if not timestamp_fresh(int(signed.timestamp), now):
        return Refusal(
            401,
            "stale_timestamp",
            "bh-timestamp is more than 300 s from the server's clock",
            "bh-timestamp",
        )
    return None


def authorize(key: KeyInfo, client: Address | None, permission: str | None) -> Refusal | None:
    """None if the client's address is allowed and a role of the key grants the permission
    (None: any authenticated key, as for a path that leads nowhere)."""
    if not allowed(client, key.allowed_ips):
        return Refusal(403, "ip_not_allowed", f"{client} is not allowed for this key")
    if permission is not None and not may(key.roles, permission):
        return Refusal(403, "forbidden", f"no role of this key may {permission}")
    return None
