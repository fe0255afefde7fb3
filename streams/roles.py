"""Roles and what each may do: every route names one permission, every role holds a set.

`viewer` reads; `operator` also changes monitors, wallets, addresses and sessions, redelivers
and requests withdrawals; `approver` approves and rejects withdrawals (and reads, to see what
it approves); `admin` manages keys and reads the audit log besides what `operator` may, but
never approves; `signer` reaches only the signer's endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Role = Literal["viewer", "operator", "approver", "admin", "signer"]
Permission = Literal["read", "operate", "approve", "admin", "sign"]

ROLES: tuple[Role, ...] = ("viewer", "operator", "approver", "admin", "signer")

GRANTS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "operator": frozenset({"read", "operate"}),
    "approver": frozenset({"read", "approve"}),
    "admin": frozenset({"read", "operate", "admin"}),
    "signer": frozenset({"sign"}),
}


def may(roles: Iterable[str], permission: str) -> bool:
    """Whether any of the roles grants the permission (unknown roles grant nothing)."""
    return any(permission in GRANTS.get(r, frozenset()) for r in roles)
