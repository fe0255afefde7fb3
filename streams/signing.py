"""Standard Webhooks signing: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">."""

from __future__ import annotations

import base64
import functools
import hmac

SECRET_PREFIX = "whsec_"


@functools.lru_cache(maxsize=1024)
def secret_key(secret: str) -> bytes:
    """The raw HMAC key of a whsec_ secret (cached: a monitor signs with the same one)."""
    body = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    return base64.b64decode(body)


@functools.lru_cache(maxsize=1024)
def _keyed(secret: str) -> hmac.HMAC:
    """An HMAC-SHA256 already keyed with secret; copying it skips the key setup, which
    costs as much as hashing a whole event."""
    return hmac.new(secret_key(secret), digestmod="sha256")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature, as it appears in the webhook-signature header."""
    h = _keyed(secret).copy()
    h.update(f"{msg_id}.{timestamp}.".encode())
    h.update(body)
    return "v1," + base64.b64encode(h.digest()).decode()


def signature_header(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated signatures, one per secret (several during a secret rotation)."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets)


def webhook_headers(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers plus the content type."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
    }
