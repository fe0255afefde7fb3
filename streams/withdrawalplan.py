"""What one command on withdrawals.commands does: the planner behind the withdrawals agent.

Pure: given the command and reads of the agent's tables, it returns a Plan (records to keep
and publish, events, the sender's nonce book, the decision the API waits for, signing
requests to withdraw). The agent applies it and does the I/O (the node, the broadcast).
Commands come from the API, but anyone who can write the topic goes through the same
checks: a request always starts at pending_approval with no approvals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from streams import withdrawal as w
from streams import withdrawalexec as x
from streams.txnonce import Book, dequeue, enqueue, finished, release, signing_done, start
from streams.withdrawal import Step

Lookup = Callable[[str], dict[str, Any] | None]


@dataclass
class Plan:
    """The effects of one command, in the order the agent applies them."""

    records: list[dict[str, Any]] = field(default_factory=list)  # agent records, changed
    batch: dict[str, Any] | None = None
    book: tuple[str, Book] | None = None  # sender key, its new book
    events: list[dict[str, Any]] = field(default_factory=list)
    decision: dict[str, Any] | None = None
    clear_signing: list[str] = field(default_factory=list)  # signing ids answered
    broadcast: dict[str, Any] | None = None  # a record whose signed bytes go out now
    audit: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)


def sender_key(chain: str, sender: str) -> str:
    """The key of a sender on the commands topic and in the books table."""
    return f"{chain}:{sender}"


def split_sender_key(skey: str) -> tuple[str, str]:
    """The chain and the address of a sender key (chain names hold no colon)."""
    chain, _, sender = skey.partition(":")
    return chain, sender


def decision(
    cmd: dict[str, Any], step: Step | None, answer: dict[str, Any] | None
) -> dict[str, Any]:
    """What the API that sent `cmd` answers: the record (or batch) after it, or the refusal."""
    if step is not None and not step.ok:
        code = step.code or "conflict"
        return {
            "command_id": cmd.get("command_id"),
            "ok": False,
            "status": w.CODES.get(code, 409),
            "code": code,
            "message": step.message,
        }
    return {"command_id": cmd.get("command_id"), "ok": True, "status": 200, "answer": answer}


def _events(rec: dict[str, Any], types: tuple[str, ...], at: str) -> list[dict[str, Any]]:
    return [w.event(rec, t, at) for t in types]


def plan_request(cmd: dict[str, Any], get: Lookup, required: int) -> Plan:
    """A new withdrawal, always waiting for approvals; a repeat of it changes nothing."""
    at = str(cmd["at"])
    rec = dict(cmd["withdrawal"])
    old = get(str(rec["id"]))
    if old is not None:
        same = all(old.get(k) == rec.get(k) for k in ("requested_by", "to", "amount", "from"))
        if not same:
            step = w.refuse("conflict", "another withdrawal has this id")
            return Plan(decision=decision(cmd, step, None))
        # A replay (the first pass may have stopped before its messages went out) says it
        # all again: the record and its event (its id is deterministic) are harmless twice.
        return Plan(
            records=[old],
            events=_events(old, ("withdrawal.requested",), str(old["created_at"])),
            decision={**decision(cmd, None, w.public(old)), "status": 201},
        )
    rec.update(
        status=w.PENDING,
        approvals=[],
        approvals_required=w.approvals_required(required),
        rejected_by=None,
        reason=None,
        nonce=None,
        tx_hash=None,
        confirmations=0,
        fee=None,
        error=None,
        batch_id=None,
        created_at=at,
        updated_at=at,
    )
    return Plan(
        records=[rec],
        events=_events(rec, ("withdrawal.requested",), at),
        decision={**decision(cmd, None, w.public(rec)), "status": 201},
    )


def plan_request_batch(cmd: dict[str, Any], get: Lookup, get_batch: Lookup, required: int) -> Plan:
    """A new batch and its items, all waiting for the batch's approvals."""
    at = str(cmd["at"])
    batch = dict(cmd["batch"])
    old = get_batch(str(batch["id"]))
    if old is not None:
        items = [i for i in (get(iid) for iid in old["item_ids"]) if i is not None]
        return Plan(decision={**decision(cmd, None, w.public_batch(old, items)), "status": 201})
    need = w.approvals_required(required)
    batch.update(status=w.PENDING, approvals=[], approvals_required=need, created_at=at)
    batch.update(updated_at=at, rejected_by=None, reason=None)
    items = []
    for raw in cmd["items"]:
        it = dict(raw)
        it.update(status=w.PENDING, approvals=[], approvals_required=need, batch_id=batch["id"])
        it.update(rejected_by=None, reason=None, nonce=None, tx_hash=None, confirmations=0)
        it.update(fee=None, error=None, created_at=at, updated_at=at)
        it.update({"from": batch["from"], "requested_by": batch["requested_by"]})
        items.append(it)
    batch["item_ids"] = [i["id"] for i in items]
    events = [e for it in items for e in _events(it, ("withdrawal.requested",), at)]
    answer = w.public_batch(batch, items)
    return Plan(
        records=items,
        batch=batch,
        events=events,
        decision={**decision(cmd, None, answer), "status": 201},
    )


def _queue(book: Book, recs: list[dict[str, Any]]) -> Book:
    for r in recs:
        if r["status"] == w.APPROVED:
            book = enqueue(book, r["id"])
        elif r["status"] in (w.CANCELLED, w.REJECTED):
            book = dequeue(book, r["id"])
    return book


# The event a replayed decision says again, by the status its target is in.
_STATUS_EVENT = {
    w.APPROVED: "withdrawal.approved",
    w.REJECTED: "withdrawal.rejected",
    w.CANCELLED: "withdrawal.cancelled",
}


def _applied(target: dict[str, Any], cid: Any) -> dict[str, Any]:
    """The target with this command's id kept: a replay of the command is then known."""
    return {**target, "applied": [*(target.get("applied") or [])[-31:], cid]}


def _replayed(
    cmd: dict[str, Any],
    target: dict[str, Any],
    items: list[dict[str, Any]] | None,
    book: Book,
    skey: str,
) -> Plan | None:
    """A decision already applied (its first pass may have stopped before its messages went
    out, or before every write): say it all again from the state it left, change nothing."""
    if not cmd.get("command_id") or cmd["command_id"] not in (target.get("applied") or []):
        return None
    recs = items if items is not None else [target]
    etype = _STATUS_EVENT.get(target["status"])
    events = [w.event(r, etype, str(r["updated_at"])) for r in recs if etype]
    answer = w.public_batch(target, recs) if items is not None else w.public(target)
    return Plan(
        records=recs,
        batch=target if items is not None else None,
        book=(skey, _queue(book, recs)),
        events=events,
        decision=decision(cmd, None, answer),
    )


def plan_decide(cmd: dict[str, Any], get: Lookup, get_batch: Lookup, book: Book, skey: str) -> Plan:
    """approve, reject or cancel, of a withdrawal or of a batch (its target's prefix says)."""
    at, who, kind, target = str(cmd["at"]), str(cmd["principal"]), cmd["type"], str(cmd["target"])
    cid = cmd.get("command_id")
    if target.startswith("wbt_"):
        b = get_batch(target)
        if b is None:
            return Plan(decision=decision(cmd, w.refuse("not_found", f"no batch {target}"), None))
        items = [i for i in (get(iid) for iid in b["item_ids"]) if i is not None]
        again = _replayed(cmd, b, items, book, skey)
        if again is not None:
            return again
        if kind == "approve":
            step = w.approve_batch(b, items, who, at)
        elif kind == "reject":
            step = w.reject_batch(b, items, who, str(cmd.get("reason") or ""), at)
        else:
            step = w.cancel_batch(b, items, who, bool(cmd.get("is_admin")), at)
        if step.record is None:
            return Plan(decision=decision(cmd, step, None))
        changed = {i["id"]: i for i in step.items}
        after = [changed.get(i["id"], i) for i in items]
        events = [e for it in step.items for e in _events(it, step.events, at)]
        return Plan(
            records=step.items,
            batch=_applied(step.record, cid),
            book=(skey, _queue(book, step.items)),
            events=events,
            decision=decision(cmd, step, w.public_batch(step.record, after)),
        )
    rec = get(target)
    if rec is None:
        return Plan(decision=decision(cmd, w.refuse("not_found", f"no withdrawal {target}"), None))
    again = _replayed(cmd, rec, None, book, skey)
    if again is not None:
        return again
    if kind == "approve":
        step = w.approve(rec, who, at)
    elif kind == "reject":
        step = w.reject(rec, who, str(cmd.get("reason") or ""), at)
    else:
        step = w.cancel(rec, who, bool(cmd.get("is_admin")), at)
    if step.record is None:
        return Plan(decision=decision(cmd, step, None))
    new = _applied(step.record, cid)
    return Plan(
        records=[new],
        book=(skey, _queue(book, [new])),
        events=_events(new, step.events, at),
        decision=decision(cmd, step, w.public(new)),
    )


CheckSigned = Callable[[str, dict[str, Any], str], str]  # raw, expected tx, sender → tx hash


def plan_answer(
    cmd: dict[str, Any], get: Lookup, book: Book, skey: str, check: CheckSigned
) -> Plan:
    """The signer's answer to a signing request: signed (checked against what was asked
    before anything is sent), or refused. `check` decodes the signed bytes and raises
    ValueError naming the first field that differs."""
    at, sid = str(cmd["at"]), str(cmd["signing_id"])
    rec = get(str(cmd["withdrawal_id"]))
    if rec is None:
        return Plan(decision=decision(cmd, w.refuse("not_found", "no such withdrawal"), None))
    nonce = rec.get("nonce")
    if cmd["type"] == "refused":
        step = x.signer_refused(rec, sid, str(cmd.get("reason") or ""), at)
        problem = None
    else:
        try:
            tx_hash = check(str(cmd["signed_tx"]), rec.get("tx") or {}, str(rec["from"]))
        except ValueError as exc:
            problem = str(exc)
            step = x.signer_mismatch(rec, sid, problem, at)
        else:
            problem = None
            step = x.signed(rec, sid, str(cmd["signed_tx"]).lower(), tx_hash, at)
    if step.record is None:
        return Plan(decision=decision(cmd, step, None))
    new = step.record
    plan = Plan(records=[new], clear_signing=[sid], decision=decision(cmd, step, w.public(new)))
    if new["status"] == w.FAILED:
        b = signing_done(book, rec["id"], sent=False)
        if isinstance(nonce, int):
            b = release(b, nonce)
        plan.book = (skey, b)
        plan.events = _events(new, step.events, at)
        what = "withdrawal.sign_refused" if problem is None else "withdrawal.sign_mismatch"
        plan.audit.append((what, new["id"], "refused", {"error": new["error"]}))
    else:
        plan.book = (skey, signing_done(book, rec["id"], sent=True))
        plan.broadcast = new
        plan.audit.append(("withdrawal.signed", new["id"], "ok", {"tx_hash": new["signed_hash"]}))
    return plan


def next_to_prepare(book: Book) -> tuple[str | None, Book]:
    """The withdrawal the signer should get next (one at a time per sender)."""
    return start(book)


def signing_request(rec: dict[str, Any], chain_id: int) -> dict[str, Any]:
    """What the signer gets (docs/withdrawals.md, "The signer protocol")."""
    return {
        "id": rec["signing_id"],
        "chain": rec["chain"],
        "chain_id": chain_id,
        "wallet_id": rec["wallet_id"],
        "path": rec["path"],
        "from": rec["from"],
        "tx": rec["tx"],
        "withdrawal": w.public(rec),
    }


def plan_start_signing(
    rec: dict[str, Any], book: Book, skey: str, tx: dict[str, Any], at: str
) -> tuple[Plan, dict[str, Any] | None]:
    """The withdrawal at the signer got its nonce (already taken from `book`) and its
    transaction: keep both, and the signing request to publish."""
    step = x.start_signing(rec, tx, at)
    if step.record is None:
        return Plan(book=(skey, signing_done(book, rec["id"], sent=False))), None
    return Plan(records=[step.record], book=(skey, book)), step.record


def plan_unprepared(rec: dict[str, Any], book: Book, skey: str, error: str, at: str) -> Plan:
    """It cannot be prepared (the node will not estimate it): failed, the slot freed."""
    step = x.fail_unprepared(rec, error, at)
    b = signing_done(book, rec["id"], sent=False)
    if step.record is None:
        return Plan(book=(skey, b))
    return Plan(
        records=[step.record],
        book=(skey, b),
        events=_events(step.record, step.events, at),
        audit=[("withdrawal.fail", rec["id"], "error", {"error": error})],
    )


def plan_sent(rec: dict[str, Any], ok: bool, error: str, at: str) -> Plan:
    """The broadcast's outcome: broadcast, or still holding the bytes for another try."""
    step = x.sent(rec, at) if ok else x.send_failed(rec, error, at)
    if step.record is None:
        return Plan()
    plan = Plan(records=[step.record], events=_events(step.record, step.events, at))
    if ok and step.events:
        plan.audit.append(
            ("withdrawal.broadcast", rec["id"], "ok", {"tx_hash": rec["signed_hash"]})
        )
    return plan


def plan_receipt(
    rec: dict[str, Any],
    receipt: x.Receipt | None,
    head: int,
    threshold: int,
    finality_depth: int,
    book: Book,
    skey: str,
    at: str,
) -> tuple[Plan, Book]:
    """One tick's look at a followed transaction: confirmations, confirmed, failed on
    chain, dropped by a reorg (`resend` set: the same bytes go out again), or final."""
    step = x.on_receipt(rec, receipt, head, threshold, at)
    new = step.record or rec
    plan = Plan(records=[new] if step.record else [], events=_events(new, step.events, at))
    for etype in step.events:
        outcome = "error" if etype == "withdrawal.failed" else "ok"
        plan.audit.append((etype, rec["id"], outcome, {"tx_hash": new.get("tx_hash")}))
    if x.is_final(new, head, finality_depth):
        book = finished(book, rec["id"])
    return plan, book


def _claimed(book: Book, nonce: int) -> Book:
    """The book with `nonce` handed out (a crash may have kept the record, not the book)."""
    nxt = max(book.next or 0, nonce + 1)
    return replace(book, next=nxt, free=tuple(n for n in book.free if n != nonce))


def reconcile(book: Book, rec: dict[str, Any] | None) -> tuple[Book, str]:
    """What to do for the withdrawal at the signer (`book.signing`), read back after a
    crash that may have kept the record's writes and not the book's: "prepare" (approved:
    build its transaction), "ask" (its request is out: ask again), "broadcast" (signed:
    send the bytes), or "skip" (nothing is owed to it; the slot is free again)."""
    wid = book.signing
    if wid is None:
        return book, "skip"
    if rec is None:
        return signing_done(book, wid, sent=False), "skip"
    status, tx = rec["status"], rec.get("tx") or {}
    if status == w.APPROVED:
        return book, "prepare"
    if status == w.SIGNING and not rec.get("raw"):
        return _claimed(book, int(tx["nonce"])), "ask"
    if status == w.SIGNING:
        return signing_done(_claimed(book, int(tx["nonce"])), wid, sent=True), "broadcast"
    if rec.get("tx_hash"):
        return signing_done(book, wid, sent=True), "skip"
    b = signing_done(book, wid, sent=False)
    if "nonce" in tx and not rec.get("raw"):
        b = release(_claimed(b, int(tx["nonce"])), int(tx["nonce"]))
    return b, "skip"
