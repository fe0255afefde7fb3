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


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature, as it appears in the webhook-signature header."""
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.digest(secret_key(secret), to_sign, "sha256")
    return "v1," + base64.b64encode(digest).decode()


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
