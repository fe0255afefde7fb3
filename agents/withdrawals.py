"""The withdrawals agent: the one owner of each sender's withdrawals, nonces and
transactions (the partition of withdrawals.commands that chain:sender hashes to).

Commands come from the API (request, approve, reject, cancel), from the signer's answers
(signed, refused) and from the leader's ticks (follow what was sent). The planner decides,
streams/withdrawalplan.py; agents/wdstore.py applies; agents/wdsend.py talks to the node."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from agents import wdsend
from agents import wdstore as store
from core.publish import Message
from faust_app import app, publisher, settings
from faust_app.acks import acked_events
from faust_app.topics import withdrawal_commands_topic
from streams import withdrawalplan as wp
from streams.match import partition_for
from streams.txcheck import TxCheckError, check_signed, decode_signed

logger = logging.getLogger(__name__)

DECIDE = ("approve", "reject", "cancel")


class BadCommand(ValueError):
    """A command that cannot be carried out as written."""


def check_raw(raw: str, tx: dict[str, Any], sender: str) -> str:
    """The signed bytes decoded and compared with what was asked: their hash, or
    ValueError naming the first field that differs."""
    try:
        signed = decode_signed(raw)
        check_signed(signed, tx, sender)
    except TxCheckError as exc:
        raise ValueError(str(exc)) from None
    return signed.hash


def _sender_of(cmd: dict[str, Any]) -> tuple[str, str]:
    """The chain and sending address a command is about (from the agent's own records for
    anything but a new request)."""
    t = cmd.get("type")
    if t == "request":
        src = cmd.get("withdrawal")
    elif t == "request_batch":
        src = cmd.get("batch")
    elif t in DECIDE:
        target = str(cmd.get("target"))
        src = store.batch(target) if target.startswith("wbt_") else store.record(target)
    elif t in ("signed", "refused"):
        src = store.record(str(cmd.get("withdrawal_id")))
    else:
        raise BadCommand(f"unknown command type {t!r}")
    if not isinstance(src, dict):
        raise LookupError("no such withdrawal or batch")
    return str(src["chain"]), str(src["from"])


def _refusal(cmd: dict[str, Any], status: int, code: str, message: str) -> wp.Plan:
    d = {"command_id": cmd.get("command_id"), "ok": False, "status": status}
    return wp.Plan(decision={**d, "code": code, "message": message})


async def handle(p: int, cmd: dict[str, Any]) -> None:
    """Carry out one command of partition p."""
    if cmd.get("type") == "tick":
        for skey in store.senders(p):
            await wdsend.follow(p, skey)
        return
    try:
        chain, sender = _sender_of(cmd)
    except LookupError as exc:
        await store.apply(p, _refusal(cmd, 404, "not_found", str(exc)))
        return
    if partition_for(chain, sender, settings.partitions) != p:
        # The owner of this sender reads another partition: acting here could race it.
        await store.apply(p, _refusal(cmd, 400, "invalid_command", "wrong partition"))
        return
    skey = wp.sender_key(chain, sender)
    required = settings.withdrawals.approvals_required
    t = cmd["type"]
    if t == "request":
        plan = wp.plan_request(cmd, store.record, required)
    elif t == "request_batch":
        plan = wp.plan_request_batch(cmd, store.record, store.batch, required)
    elif t in DECIDE:
        plan = wp.plan_decide(cmd, store.record, store.batch, store.book(skey), skey)
    else:
        plan = wp.plan_answer(cmd, store.record, store.book(skey), skey, check_raw)
        if plan.decision and not plan.decision.get("ok") and cmd.get("signing_id"):
            plan.clear_signing.append(str(cmd["signing_id"]))  # a stale request: gone
    await store.apply(p, plan)
    if plan.broadcast is not None:
        await wdsend.broadcast(p, plan.broadcast)
    await wdsend.prepare_next(p, skey)


@app.agent(withdrawal_commands_topic)
async def withdrawals(stream: Any) -> None:
    """Each partition's commands, one at a time, in order."""
    async for event in acked_events(stream):
        p = event.message.partition
        cmd: Any = None
        try:
            cmd = orjson.loads(event.value)
            if not isinstance(cmd, dict):
                raise BadCommand("a command is a JSON object")
            await handle(p, cmd)
        except (orjson.JSONDecodeError, BadCommand, KeyError, TypeError, ValueError) as exc:
            logger.error("withdrawal command skipped: %s: %s", type(exc).__name__, exc)
            if isinstance(cmd, dict) and cmd.get("command_id"):
                await store.apply(p, _refusal(cmd, 400, "invalid_command", str(exc)[:300]))


@app.timer(interval=settings.withdrawals.poll_interval_s, on_leader=True)
async def tick() -> None:
    """Ask every partition to look after what it sent (leader only)."""
    body = orjson.dumps({"type": "tick"})
    await publisher.publish(
        Message("withdrawals.commands", b"tick", body, p) for p in range(settings.partitions)
    )
