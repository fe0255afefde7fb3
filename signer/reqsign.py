"""Signed requests (docs/security.md, "Signing a request"), with the standard library only.

The signature is `v1,` + base64 of HMAC-SHA256, keyed by the UTF-8 bytes of the whole
secret, over "{timestamp}\\n{nonce}\\n{METHOD}\\n{path_and_query}\\n{sha256_hex(body)}"."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def signature(
    secret: str, timestamp: str, nonce: str, method: str, path_and_query: str, body: bytes
) -> str:
    """The `bh-signature` value of one request."""
    text = "\n".join(
        [timestamp, nonce, method.upper(), path_and_query, hashlib.sha256(body).hexdigest()]
    )
    mac = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def sign_headers(
    key_id: str, secret: str, method: str, path_and_query: str, body: bytes, now: float
) -> dict[str, str]:
    """The four headers of a request made at unix time now, with a fresh nonce.
    path_and_query is exactly what goes on the request line."""
    ts = str(int(now))
    nonce = secrets.token_urlsafe(18)
    return {
        "bh-key": key_id,
        "bh-timestamp": ts,
        "bh-nonce": nonce,
        "bh-signature": signature(secret, ts, nonce, method, path_and_query, body),
    }
