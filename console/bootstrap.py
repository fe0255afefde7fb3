"""Operators written straight to their topic, without a worker: the first admin (`blockhook
admin create-operator`) and the dev stack's operator."""

from __future__ import annotations

import asyncio
import time

import orjson

from core.errors import ConfigError
from core.settings import Settings
from core.timefmt import iso_utc
from streams import operators as ops
from transport.kafkawrite import write_records
from views.operators import OperatorsView


async def _existing(s: Settings, name: str) -> dict[str, object] | None:
    view = OperatorsView(s)
    await view.start()
    try:
        await asyncio.wait_for(view.caught_up.wait(), 60)
    finally:
        await view.stop()
    return view.operators.get(name)


async def create_operator(
    s: Settings, name: str, roles: list[str], password: str | None, reset: bool = False
) -> str:
    """Write the operator's record (its password hashed); returns the password (made here
    when none is given). A name that exists is refused unless `reset`, which keeps its
    roles unless others are given, drops its authenticator and signs it out everywhere."""
    try:
        ops.check_name(name)
        if roles or not reset:
            roles = ops.check_roles(roles)
        if password is not None:
            ops.check_password(password)
    except ops.OperatorError as exc:
        raise ConfigError(str(exc)) from None
    old = await _existing(s, name)
    if old is not None and not reset:
        raise ConfigError(f"an operator {name} exists (--reset gives it a new password)")
    if old is None and reset:
        raise ConfigError(f"there is no operator {name} to reset")
    password = password or ops.new_password()
    hashed = await asyncio.to_thread(ops.hash_password, password)
    at = iso_utc(time.time())
    if old is None:
        rec = ops.new_operator(name, roles, hashed, at)
    else:
        rec = ops.signed_out_everywhere(
            ops.changed(
                dict(old),
                at,
                password_hash=hashed,
                totp=None,
                recovery=[],
                disabled=False,
                roles=roles or old.get("roles"),
            ),
            at,
        )
    await write_records(s, "operators", [(name.encode(), orjson.dumps(rec))])
    return password
