"""Signed API requests: the canonical text, the `v1,` signature over it, and its check.

A client signs `"{timestamp}\\n{nonce}\\n{METHOD}\\n{path_and_query}\\n{sha256_hex(body)}"`
with HMAC-SHA256 keyed by the UTF-8 bytes of its whole secret; the server recomputes it and
compares in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

NONCE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
TIMESTAMP_RE = re.compile(r"[0-9]{1,12}\Z")
WINDOW_S = 300
SCHEME = "v1,"


def body_hash(body: bytes) -> str:
    """sha256 hex of the body (of b"" for an empty one)."""
    return hashlib.sha256(body).hexdigest()


def canonical(timestamp: str, nonce: str, method: str, path_and_query: str, body: bytes) -> bytes:
    """The bytes a request's signature covers."""
    text = f"{timestamp}\n{nonce}\n{method.upper()}\n{path_and_query}\n{body_hash(body)}"
    return text.encode()


def signature(
    secret: str, timestamp: str, nonce: str, method: str, path_and_query: str, body: bytes
) -> str:
    """The `bh-signature` header value: `v1,` + base64 of the HMAC-SHA256."""
    mac = hmac.new(
        secret.encode(), canonical(timestamp, nonce, method, path_and_query, body), hashlib.sha256
    )
    return SCHEME + base64.b64encode(mac.digest()).decode()


def signature_ok(
    secret: str,
    header: str,
    timestamp: str,
    nonce: str,
    method: str,
    path_and_query: str,
    body: bytes,
) -> bool:
    """Whether header is the right signature (compared in constant time)."""
    want = signature(secret, timestamp, nonce, method, path_and_query, body)
    return hmac.compare_digest(want.encode(), header.encode(errors="replace"))


def sign_headers(
    key_id: str, secret: str, method: str, path_and_query: str, body: bytes, now: float
) -> dict[str, str]:
    """The four headers of a signed request made now, with a fresh nonce."""
    ts = str(int(now))
    nonce = secrets.token_urlsafe(18)
    return {
        "bh-key": key_id,
        "bh-timestamp": ts,
        "bh-nonce": nonce,
        "bh-signature": signature(secret, ts, nonce, method, path_and_query, body),
    }


def timestamp_fresh(timestamp: int, now: float, window_s: int = WINDOW_S) -> bool:
    """At most window_s seconds from the server's clock, either way."""
    return abs(now - timestamp) <= window_s
