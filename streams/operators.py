"""Console operators: their records, passwords, second factors and recovery codes.

An operator is a principal of the access-control model (section 6) who signs in to the
console with a password instead of signing requests with a key. Passwords are kept as
argon2id hashes (argon2-cffi); the TOTP secret is sealed under the master key, as API
secrets are; recovery codes (100 random bits each) are kept as SHA-256 digests and each
works once. Nothing here reads a clock or a topic: callers pass `now` and apply what is
returned."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from streams.roles import ROLES
from streams.secretbox import SecretBox, SecretBoxError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}\Z")  # as a key's principal
CONSOLE_ROLES = tuple(r for r in ROLES if r != "signer")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 takes any length; a cap keeps a hostile body cheap
RECOVERY_CODES = 10
_HASHER = PasswordHasher()  # RFC 9106 low-memory profile: t=3, m=64 MiB, p=4
# A fixed hash to verify against when the name is unknown, so both cost the same.
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))


class OperatorError(ValueError):
    """A request about an operator that cannot be granted (the message says why)."""


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise OperatorError("an operator name is 1 to 128 of A-Z a-z 0-9 . _ @ : -")
    return name


def check_roles(roles: Iterable[str]) -> list[str]:
    out = sorted(set(roles))
    if not out:
        raise OperatorError("an operator needs at least one role")
    bad = [r for r in out if r not in CONSOLE_ROLES]
    if bad:
        raise OperatorError(f"unknown role {bad[0]!r}; one of {', '.join(CONSOLE_ROLES)}")
    return out


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise OperatorError(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def new_password() -> str:
    """A random password for a new operator (about 120 bits)."""
    return secrets.token_urlsafe(15)


def hash_password(password: str) -> str:
    """The argon2id hash of a password (slow on purpose: run it off the event loop)."""
    return _HASHER.hash(password)


def password_matches(hashed: str | None, password: str) -> bool:
    """Whether the password matches the hash; an unknown operator (None) costs the same."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _HASHER.verify(hashed or _DUMMY, password) and hashed is not None
    except (VerificationError, InvalidHashError, UnicodeError):  # a hostile form or a bad record
        return False


def new_operator(name: str, roles: Sequence[str], password_hash: str, at: str) -> dict[str, Any]:
    """The record of a new operator (its password already hashed)."""
    return {
        "name": check_name(name),
        "roles": check_roles(roles),
        "password_hash": password_hash,
        "totp": None,
        "recovery": [],
        "epoch": 0,
        "disabled": False,
        "created_at": at,
        "updated_at": at,
    }


def changed(op: dict[str, Any], at: str, **fields: Any) -> dict[str, Any]:
    """The operator's record with fields replaced."""
    return {**op, **fields, "updated_at": at}


def signed_out_everywhere(op: dict[str, Any], at: str) -> dict[str, Any]:
    """The record with its epoch moved on: every session made before is refused."""
    return changed(op, at, epoch=int(op.get("epoch") or 0) + 1)


def public(op: dict[str, Any]) -> dict[str, Any]:
    """What the console shows of an operator (no hash, no second factor's secret)."""
    return {
        "name": op["name"],
        "roles": list(op.get("roles") or []),
        "totp": op.get("totp") is not None,
        "recovery_left": len(op.get("recovery") or []),
        "disabled": bool(op.get("disabled")),
        "created_at": op.get("created_at"),
        "updated_at": op.get("updated_at"),
    }


# Second factor (RFC 6238 TOTP, 30 s steps, 6 digits).


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, name: str, issuer: str = "blockhook") -> str:
    """The otpauth:// URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=issuer)


def seal_totp(box: SecretBox, name: str, secret: str) -> dict[str, str]:
    return box.seal(secret.encode(), f"totp:{name}")


def open_totp(box: SecretBox, op: dict[str, Any]) -> str | None:
    """The operator's TOTP secret, or None when it has none (or it cannot be opened)."""
    sealed = op.get("totp")
    if sealed is None:
        return None
    try:
        return box.open(sealed, f"totp:{op['name']}").decode()
    except (SecretBoxError, KeyError, UnicodeDecodeError):
        return None


def totp_step(secret: str, code: str, now: float, last_step: int) -> int | None:
    """The time step the code is valid for (now, one step before or after), or None. A step
    at or before `last_step` (the last one used) is refused: a code works once."""
    code = code.strip().replace(" ", "")
    if not re.fullmatch(r"[0-9]{6}", code):  # ASCII only (\d takes any script's digits)
        return None
    totp = pyotp.TOTP(secret)
    step = int(now) // totp.interval
    for s in (step - 1, step, step + 1):
        if s > last_step and hmac.compare_digest(totp.at(s * totp.interval), code):
            return s
    return None


# Recovery codes: 20 base32 characters (100 bits), shown once, kept as SHA-256 digests.


def _digest(code: str) -> str:
    norm = code.strip().replace("-", "").replace(" ", "").upper()
    return hashlib.sha256(norm.encode()).hexdigest()


def new_recovery_codes(n: int = RECOVERY_CODES) -> tuple[list[str], list[str]]:
    """Codes to show once, and the digests to keep."""
    codes = []
    for _ in range(n):
        raw = base64.b32encode(secrets.token_bytes(13)).decode()[:20]
        codes.append("-".join(raw[i : i + 5] for i in range(0, 20, 5)))
    return codes, [_digest(c) for c in codes]


def use_recovery_code(op: dict[str, Any], code: str) -> list[str] | None:
    """The digests left once this code is used, or None when it is not one of them."""
    want = _digest(code)
    kept = [str(d) for d in op.get("recovery") or []]
    hit = None
    for d in kept:  # every digest compared, in constant time each
        if hmac.compare_digest(d, want):
            hit = d
    if hit is None:
        return None
    return [d for d in kept if d != hit]
