"""The withdrawals agent's state and how a plan is applied to it.

Everything lives in one table (wd_state), in the partition of the sender, so a changelog
read after a crash holds a prefix of the writes of the last command (streams.withdrawalplan
`reconcile` mends a book left behind its record). A plan's messages go out first and are
acknowledged, its table writes come after: a crash in between replays the command, whose
messages are the same again (deterministic ids), never a state with its messages missing.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson

from core import faults, metrics
from core.publish import Message
from core.timefmt import iso_utc
from faust_app import publisher, settings
from faust_app.tables import wd_state_table
from streams import withdrawal as w
from streams.auditchain import new_entry
from streams.match import partition_for
from streams.txnonce import Book
from streams.withdrawalplan import Plan, signing_request

SYSTEM = "system"  # the principal of what the platform does by itself


def _get(key: str) -> dict[str, Any] | None:
    raw = wd_state_table.get(key.encode())
    return orjson.loads(raw) if raw else None


def record(wid: str) -> dict[str, Any] | None:
    """The agent's record of a withdrawal (with its transactions), or None."""
    return _get("r|" + wid)


def batch(bid: str) -> dict[str, Any] | None:
    return _get("b|" + bid)


def book(skey: str) -> Book:
    """A sender's nonce book (empty before its first withdrawal)."""
    return Book.from_json(_get("k|" + skey))


def senders(p: int) -> list[str]:
    """The senders of partition p with something to look after."""
    return list(_get(f"p|{p}") or [])


def _busy(b: Book) -> bool:
    return bool(b.queue or b.signing or b.inflight)


def write_book(p: int, skey: str, b: Book) -> None:
    """Keep a sender's book, and whether partition p's ticks must look at it."""
    wd_state_table[f"k|{skey}".encode()] = orjson.dumps(b.to_json())
    active = senders(p)
    if _busy(b) and skey not in active:
        wd_state_table[f"p|{p}".encode()] = orjson.dumps([*active, skey])
    elif not _busy(b) and skey in active:
        wd_state_table[f"p|{p}".encode()] = orjson.dumps([s for s in active if s != skey])


def write_record(rec: dict[str, Any]) -> None:
    wd_state_table[f"r|{rec['id']}".encode()] = orjson.dumps(rec)


def record_message(rec: dict[str, Any]) -> Message:
    """The contract's withdrawals topic: the public record (no transaction bytes)."""
    return Message("withdrawals", str(rec["id"]).encode(), orjson.dumps(w.public(rec)))


def signing_message(rec: dict[str, Any]) -> Message:
    """The request the signer sees, until it is answered."""
    chain = settings.chain(str(rec["chain"]))
    chain_id = chain.chain_id if chain else 0
    body = orjson.dumps(signing_request(rec, chain_id))
    return Message("withdrawals.signing", str(rec["signing_id"]).encode(), body)


def txs_message(rec: dict[str, Any]) -> Message:
    """The signed bytes, kept on their own compacted topic before they are ever sent."""
    body = {"withdrawal_id": rec["id"], "tx_hash": rec["signed_hash"], "raw": rec["raw"]}
    return Message("withdrawals.txs", str(rec["id"]).encode(), orjson.dumps(body))


def _event_message(ev: dict[str, Any]) -> Message:
    """A withdrawal event goes to the tracker of the sender's transfers partition, which
    publishes it and fans it out to the webhooks of the wallet's monitors."""
    p = partition_for(str(ev["chain"]), str(ev["from"]), settings.partitions)
    body = orjson.dumps({"t": "wevent", "event": ev})
    return Message("transfers", str(ev["withdrawal_id"]).encode(), body, p)


def _audit_message(action: str, target: str, outcome: str, detail: dict[str, Any]) -> Message:
    digest = hashlib.sha256(
        orjson.dumps([action, target, outcome, detail], option=orjson.OPT_SORT_KEYS)
    ).hexdigest()[:32]
    status = 200 if outcome == "ok" else 422
    e = new_entry(
        "sys_" + digest,
        iso_utc(time.time()),
        SYSTEM,
        None,
        None,
        action,
        target,
        outcome,
        status,
        detail,
    )
    return Message("audit.requests", SYSTEM.encode(), orjson.dumps(e))


def messages(plan: Plan, extra: list[Message] | None = None) -> list[Message]:
    """What a plan publishes, the decision last (the API waits on it)."""
    out = [record_message(r) for r in plan.records]
    if plan.batch is not None:
        b = plan.batch
        out.append(Message("withdrawals.batches", str(b["id"]).encode(), orjson.dumps(b)))
    if plan.broadcast is not None:
        out.append(txs_message(plan.broadcast))
    out += [Message("withdrawals.signing", sid.encode(), None) for sid in plan.clear_signing]
    out += extra or []
    out += [_event_message(ev) for ev in plan.events]
    out += [_audit_message(*a) for a in plan.audit]
    if plan.decision is not None:
        cid = str(plan.decision.get("command_id") or "")
        out.append(Message("withdrawals.decisions", cid.encode(), orjson.dumps(plan.decision)))
    return out


async def apply(p: int, plan: Plan, extra: list[Message] | None = None) -> None:
    """Publish the plan's messages (acknowledged), then keep its records, batch and book,
    the book last."""
    msgs = messages(plan, extra)
    if msgs:
        await publisher.publish(msgs)
    _count(plan)
    _keep(p, plan)


def _keep(p: int, plan: Plan) -> None:
    """Write the plan's records, batch and book to the table, the book last."""
    for rec in plan.records:
        write_record(rec)
    if plan.batch is not None:
        wd_state_table[f"b|{plan.batch['id']}".encode()] = orjson.dumps(plan.batch)
    if plan.book is not None:
        write_book(p, *plan.book)


async def apply_state_first(p: int, plan: Plan, extra: list[Message] | None = None) -> None:
    """Keep the plan's state, wait until its changelog records are on the broker, and only
    then publish its messages.

    For the step that hands a transaction to the signer: were the request out and the
    owner's state of it lost (a kill between the two), the next owner of the sender would
    prepare the withdrawal again with other fees, and the signer, which already signed this
    nonce for the first transaction, would refuse every transaction at that nonce from then
    on. State first, a crash before the request leaves nothing out; one after it leaves
    state that asks the signer again for the same transaction (`reconcile`: "ask")."""
    _keep(p, plan)
    await publisher.flush()
    msgs = messages(plan, extra)
    if msgs:
        await publisher.publish(msgs)
    faults.point("withdrawal_after_ask")
    _count(plan)


def _count(plan: Plan) -> None:
    for ev in plan.events:
        status = str(ev.get("type", "")).removeprefix("withdrawal.")
        metrics.WITHDRAWALS.labels(status=status).inc()
