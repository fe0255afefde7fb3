"""Console sessions, CSRF tokens and sign-in lock-out: pure decisions over records.

A session is a random token in an HttpOnly cookie; topics and tables hold only its SHA-256
(`session_id`), so reading them never lets anyone sign in. A session is good until it
expires, is signed out, or its operator's epoch moves on (sign out everywhere), is disabled
or removed. The CSRF token of a form is an HMAC of the session's token: it cannot be made
without the cookie, which page scripts cannot read. Sign-in attempts are a log per operator
name; enough failures in a window lock the name for a while."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

TOKEN_BYTES = 32


def new_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).decode().rstrip("=")


def session_id(token: str) -> str:
    """What is stored for a session: the token's digest, never the token."""
    return "cs_" + hashlib.sha256(token.encode()).hexdigest()[:40]


def csrf_token(token: str) -> str:
    """The CSRF token of a session's forms."""
    mac = hmac.new(token.encode(), b"blockhook console csrf v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def csrf_ok(token: str | None, sent: str | None) -> bool:
    """Whether a form's CSRF field belongs to this session (constant time)."""
    if not token or not sent:
        return False
    # bytes: compare_digest refuses non-ASCII text, and a hostile form may hold any
    return hmac.compare_digest(csrf_token(token).encode(), sent.encode("utf-8", "replace"))


def new_session(
    sid: str, operator: dict[str, Any], now: float, ttl_s: float, ip: str | None
) -> dict[str, Any]:
    return {
        "id": sid,
        "operator": operator["name"],
        "epoch": int(operator.get("epoch") or 0),
        "created_at": now,
        "expires_at": now + ttl_s,
        "revoked": False,
        "ip": ip,
    }


def revoked(session: dict[str, Any], now: float) -> dict[str, Any]:
    return {**session, "revoked": True, "revoked_at": now}


def session_valid(
    session: dict[str, Any] | None, operator: dict[str, Any] | None, now: float
) -> bool:
    """Whether a session still lets its operator in."""
    if session is None or operator is None or session.get("revoked"):
        return False
    if operator.get("disabled") or session.get("operator") != operator.get("name"):
        return False
    if int(session.get("epoch", -1)) != int(operator.get("epoch") or 0):
        return False
    return now < float(session.get("expires_at") or 0)


# Sign-in attempts and lock-out.


def attempt(name: str, ok: bool, now: float, totp_step: int | None = None) -> dict[str, Any]:
    """One sign-in attempt's record for the log."""
    return {"name": name, "ok": ok, "at": now, "totp_step": totp_step}


@dataclass(frozen=True, slots=True)
class Lockout:
    """The lock-out policy."""

    failures: int
    window_s: float
    lock_s: float


def locked_until(attempts: Iterable[dict[str, Any]], now: float, p: Lockout) -> float | None:
    """Until when a name is locked out, or None: `failures` failed attempts since its last
    success, within `window_s` of each other, lock it for `lock_s` after the last one."""
    fails: list[float] = []
    for a in attempts:
        if a.get("ok"):
            fails = []
        else:
            fails.append(float(a.get("at") or 0))
    until = None
    n = p.failures
    for i in range(len(fails) - n + 1):  # every run of n failures close enough together
        if fails[i + n - 1] - fails[i] <= p.window_s:
            end = fails[i + n - 1] + p.lock_s
            until = end if until is None else max(until, end)
    return until if until is not None and until > now else None


def last_totp_step(attempts: Iterable[dict[str, Any]]) -> int:
    """The last TOTP step used to sign in (a code works once)."""
    steps = [int(a["totp_step"]) for a in attempts if a.get("ok") and a.get("totp_step")]
    return max(steps, default=0)
