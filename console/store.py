"""Writes of the console's own records: operators, sessions and sign-in attempts. Each is
published (acknowledged) and then waited for in the fold, so what was just done holds on
this worker at once."""

from __future__ import annotations

from typing import Any

import orjson

from console.context import Console
from core.errors import ApiError
from core.publish import Message

VISIBLE_TIMEOUT_S = 10.0


async def _put(
    c: Console, topic: str, key: str, record: dict[str, Any], table: dict[str, Any]
) -> None:
    await c.publisher.publish([Message(topic, key.encode(), orjson.dumps(record))])
    if not await c.operators.wait_for(lambda: table.get(key) == record, VISIBLE_TIMEOUT_S):
        raise ApiError(503, "not_ready", "saved, but not visible yet; reload in a moment")


async def save_operator(c: Console, op: dict[str, Any]) -> None:
    await _put(c, "operators", str(op["name"]), op, c.operators.operators)


async def save_session(c: Console, sess: dict[str, Any]) -> None:
    await _put(c, "console.sessions", str(sess["id"]), sess, c.operators.sessions)


async def log_attempt(c: Console, rec: dict[str, Any]) -> None:
    """A sign-in attempt on the log every worker's lock-out reads (waited for, so the next
    attempt on this worker already counts it)."""
    name = str(rec["name"])
    await c.publisher.publish([Message("console.signins", name.encode(), orjson.dumps(rec))])
    await c.operators.wait_for(lambda: rec in c.operators.attempts.get(name, ()), VISIBLE_TIMEOUT_S)
