"""roles: the whole table of roles and permissions, cell by cell."""

from __future__ import annotations

import itertools
from typing import get_args

import pytest

from streams.roles import GRANTS, ROLES, Permission, Role, may

PERMISSIONS = ("read", "operate", "approve", "admin", "sign")

TABLE: dict[str, set[str]] = {
    "viewer": {"read"},
    "operator": {"read", "operate"},
    "approver": {"read", "approve"},
    "admin": {"read", "operate", "admin"},
    "signer": {"sign"},
}


def test_roles_and_permissions_are_the_documented_ones() -> None:
    assert ROLES == ("viewer", "operator", "approver", "admin", "signer")
    assert set(get_args(Role)) == set(ROLES)
    assert set(get_args(Permission)) == set(PERMISSIONS)
    assert set(GRANTS) == set(ROLES)
    assert {r: set(g) for r, g in GRANTS.items()} == TABLE


@pytest.mark.parametrize(("role", "permission"), list(itertools.product(ROLES, PERMISSIONS)))
def test_matrix(role: str, permission: str) -> None:
    assert may([role], permission) is (permission in TABLE[role])


def test_admin_never_approves() -> None:
    assert not may(["admin"], "approve")
    assert may(["admin", "approver"], "approve")


def test_signer_only_signs() -> None:
    assert may(["signer"], "sign")
    assert not any(may(["signer"], p) for p in PERMISSIONS if p != "sign")
    assert not any(may([r], "sign") for r in ROLES if r != "signer")


@pytest.mark.parametrize("role", ["", "root", "Admin", "VIEWER", " viewer", "superuser", "*"])
@pytest.mark.parametrize("permission", PERMISSIONS)
def test_unknown_role_grants_nothing(role: str, permission: str) -> None:
    assert not may([role], permission)


def test_no_roles_grant_nothing() -> None:
    assert not any(may([], p) for p in PERMISSIONS)


@pytest.mark.parametrize("role", ROLES)
def test_unknown_permission_is_granted_by_no_role(role: str) -> None:
    for p in ("", "write", "READ", "delete", "*"):
        assert not may([role], p)


def test_roles_add_up() -> None:
    assert may(["viewer", "signer"], "sign")
    assert may(["viewer", "signer"], "read")
    assert may(["bogus", "operator"], "operate")
    assert not may(["viewer", "signer"], "operate")
    assert may(iter(["approver"]), "approve")
    assert may(frozenset({"operator", "approver"}), "approve")


@pytest.mark.parametrize("combo", list(itertools.combinations(ROLES, 2)))
def test_any_two_roles_grant_the_union(combo: tuple[str, str]) -> None:
    for p in PERMISSIONS:
        assert may(combo, p) is (p in TABLE[combo[0]] | TABLE[combo[1]])
