"""Four eyes: the approval half of the withdrawal state machine, for one withdrawal or a batch.

Every path that changes a withdrawal (an API call, a console action, a record someone wrote
to the commands topic) goes through these functions, so the rule holds whoever asks: a
withdrawal is `approved` only with `approvals_required` approvals of distinct principals,
none of them the requester. Functions take a record (a plain dict as on the topics), never
change it, and return a `Step`: the new record or a refusal with the contract's code."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

PENDING = "pending_approval"
APPROVED = "approved"
SIGNING = "signing"
BROADCAST = "broadcast"
CONFIRMED = "confirmed"
REJECTED = "rejected"
CANCELLED = "cancelled"
FAILED = "failed"
STATUSES = (PENDING, APPROVED, SIGNING, BROADCAST, CONFIRMED, REJECTED, CANCELLED, FAILED)
# Statuses a withdrawal never leaves (a confirmed one can still go back to broadcast on a
# reorg, so it is not here).
ENDED = (REJECTED, CANCELLED, FAILED)
# Cancel works until the signer has been asked.
CANCELLABLE = (PENDING, APPROVED)
MIN_APPROVALS = 2

# Refusal codes and the HTTP status each is answered with.
CODES: dict[str, int] = {
    "self_approval": 403,
    "already_approved": 409,
    "not_pending": 409,
    "in_batch": 409,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
}

# The fields of the published record (the withdrawals topic and the API). Everything else
# in the record the agent keeps (unsigned and signed transaction, signing request) stays in
# its table.
PUBLIC = (
    "id",
    "wallet_id",
    "batch_id",
    "chain",
    "from",
    "user_ref",
    "to",
    "asset",
    "amount",
    "status",
    "requested_by",
    "approvals_required",
    "approvals",
    "rejected_by",
    "reason",
    "nonce",
    "tx_hash",
    "confirmations",
    "fee",
    "error",
    "external_id",
    "note",
    "created_at",
    "updated_at",
)
BATCH_PUBLIC = (
    "id",
    "wallet_id",
    "chain",
    "from",
    "status",
    "requested_by",
    "approvals_required",
    "approvals",
    "rejected_by",
    "reason",
    "external_id",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class Step:
    """What one command did: the record after it (None when refused), the event types it
    publishes, or the refusal's code and message."""

    record: dict[str, Any] | None
    events: tuple[str, ...] = ()
    code: str | None = None
    message: str = ""
    items: list[dict[str, Any]] = field(default_factory=list)  # a batch's changed items

    @property
    def ok(self) -> bool:
        return self.code is None


def refuse(code: str, message: str) -> Step:
    """A refusal with a code of CODES."""
    return Step(None, (), code, message)


def approvals_required(setting: int) -> int:
    """Never fewer than two, whatever the settings say."""
    return max(MIN_APPROVALS, setting)


def distinct_approvers(rec: dict[str, Any]) -> set[str]:
    """Principals other than the requester who approved."""
    return {
        str(a["principal"])
        for a in rec.get("approvals") or []
        if a["principal"] != rec["requested_by"]
    }


def is_fully_approved(rec: dict[str, Any]) -> bool:
    """The four-eyes rule itself."""
    need = approvals_required(int(rec.get("approvals_required") or 0))
    return len(distinct_approvers(rec)) >= need


def _approve_one(rec: dict[str, Any], principal: str, at: str) -> Step:
    """The checks shared by a withdrawal and a batch, in the contract's order."""
    if principal == rec["requested_by"]:
        return refuse("self_approval", "the requester cannot approve their own withdrawal")
    if rec["status"] != PENDING:
        return refuse("not_pending", f"it is {rec['status']}, not pending_approval")
    if any(a["principal"] == principal for a in rec.get("approvals") or []):
        return refuse("already_approved", f"{principal} has approved it already")
    new = {**rec, "approvals": [*(rec.get("approvals") or []), {"principal": principal, "at": at}]}
    new["updated_at"] = at
    if is_fully_approved(new):
        new["status"] = APPROVED
        return Step(new, ("withdrawal.approved",))
    return Step(new)


def approve(rec: dict[str, Any], principal: str, at: str) -> Step:
    """One approval of a single withdrawal (an item of a batch is approved with its batch)."""
    if rec.get("batch_id"):
        return refuse("in_batch", f"it belongs to batch {rec['batch_id']}: approve the batch")
    return _approve_one(rec, principal, at)


def reject(rec: dict[str, Any], principal: str, reason: str, at: str) -> Step:
    """An approver ends it while it waits for approvals."""
    if rec.get("batch_id"):
        return refuse("in_batch", f"it belongs to batch {rec['batch_id']}: reject the batch")
    if rec["status"] != PENDING:
        return refuse("not_pending", f"it is {rec['status']}, not pending_approval")
    new = {**rec, "status": REJECTED, "rejected_by": principal, "reason": reason, "updated_at": at}
    return Step(new, ("withdrawal.rejected",))


def cancel(rec: dict[str, Any], principal: str, is_admin: bool, at: str) -> Step:
    """Its requester or an admin stops it, until the signer has been asked."""
    if rec.get("batch_id"):
        return refuse("in_batch", f"it belongs to batch {rec['batch_id']}: cancel the batch")
    if principal != rec["requested_by"] and not is_admin:
        return refuse("forbidden", "only its requester or an admin can cancel it")
    if rec["status"] not in CANCELLABLE:
        return refuse("not_pending", f"it is {rec['status']}: too late to cancel")
    new = {**rec, "status": CANCELLED, "updated_at": at}
    return Step(new, ("withdrawal.cancelled",))


def _for_items(
    items: list[dict[str, Any]], batch: dict[str, Any], status: str, only: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The batch's items that follow it, in the state it reached."""
    out = []
    for it in items:
        if it["status"] in only:
            out.append(
                {
                    **it,
                    "status": status,
                    "approvals": list(batch.get("approvals") or []),
                    "rejected_by": batch.get("rejected_by"),
                    "reason": batch.get("reason"),
                    "updated_at": batch["updated_at"],
                }
            )
    return out


def approve_batch(
    batch: dict[str, Any], items: list[dict[str, Any]], principal: str, at: str
) -> Step:
    """One approval for all items: when complete, every waiting item becomes approved."""
    step = _approve_one(batch, principal, at)
    if step.record is None:
        return step
    b = step.record
    if b["status"] == APPROVED:
        return Step(b, ("withdrawal.approved",), items=_for_items(items, b, APPROVED, (PENDING,)))
    return Step(b, items=_for_items(items, b, PENDING, (PENDING,)))


def reject_batch(
    batch: dict[str, Any], items: list[dict[str, Any]], principal: str, reason: str, at: str
) -> Step:
    """Ends the batch and every item with it."""
    if batch["status"] != PENDING:
        return refuse("not_pending", f"it is {batch['status']}, not pending_approval")
    b = {**batch, "status": REJECTED, "rejected_by": principal, "reason": reason, "updated_at": at}
    return Step(b, ("withdrawal.rejected",), items=_for_items(items, b, REJECTED, (PENDING,)))


def cancel_batch(
    batch: dict[str, Any], items: list[dict[str, Any]], principal: str, is_admin: bool, at: str
) -> Step:
    """Cancels the items the signer has not been asked for yet; the others go on."""
    if principal != batch["requested_by"] and not is_admin:
        return refuse("forbidden", "only its requester or an admin can cancel it")
    if batch["status"] not in CANCELLABLE:
        return refuse("not_pending", f"it is {batch['status']}: too late to cancel")
    waiting = [it for it in items if it["status"] in CANCELLABLE]
    if batch["status"] == APPROVED and not waiting:
        return refuse("not_pending", "every item is past signing: too late to cancel")
    b = {**batch, "status": CANCELLED, "updated_at": at}
    return Step(b, ("withdrawal.cancelled",), items=_for_items(items, b, CANCELLED, CANCELLABLE))


def public(rec: dict[str, Any]) -> dict[str, Any]:
    """The record as the API and the withdrawals topic show it."""
    return {k: rec.get(k) for k in PUBLIC}


def public_batch(batch: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch as the API shows it: its own fields and its items."""
    out = {k: batch.get(k) for k in BATCH_PUBLIC}
    out["items"] = [public(i) for i in items]
    return out


def event_id(withdrawal_id: str, etype: str) -> str:
    """evt_<hex>: the same withdrawal and type always give the same id (receivers dedupe)."""
    raw = f"withdrawal\x00{withdrawal_id}\x00{etype}".encode()
    return "evt_" + hashlib.sha256(raw).hexdigest()[:40]


def event(rec: dict[str, Any], etype: str, at: str) -> dict[str, Any]:
    """A withdrawal.* event: the public record with `id` renamed `withdrawal_id`."""
    body = public(rec)
    wid = body.pop("id")
    return {
        "id": event_id(wid, etype),
        "type": etype,
        "withdrawal_id": wid,
        **body,
        "occurred_at": at,
    }


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def withdrawal_id(principal: str, idempotency_key: str) -> str:
    """wdr_<hex> from who asked and their idempotency key: a repeated request (on any
    worker, or replayed from the topic) names the same withdrawal and folds to nothing new."""
    return "wdr_" + _digest("withdrawal", principal, idempotency_key)


def batch_id(principal: str, idempotency_key: str) -> str:
    """wbt_<hex>, as withdrawal_id."""
    return "wbt_" + _digest("batch", principal, idempotency_key)


def item_id(batch: str, index: int) -> str:
    """The id of a batch's item at `index`."""
    return "wdr_" + _digest("item", batch, str(index))


def new_withdrawal(
    *,
    wid: str,
    wallet_id: str,
    chain: str,
    sender: str,
    user_ref: str | None,
    path: str,
    to: str,
    asset: dict[str, Any],
    amount: int,
    requested_by: str,
    required: int,
    at: str,
    external_id: str | None = None,
    note: str | None = None,
    batch: str | None = None,
) -> dict[str, Any]:
    """The record of a new withdrawal, waiting for approvals. `path` (the key that pays,
    for the signer) stays in the agent's record."""
    return {
        "id": wid,
        "wallet_id": wallet_id,
        "batch_id": batch,
        "chain": chain,
        "from": sender,
        "user_ref": user_ref,
        "to": to,
        "asset": asset,
        "amount": str(amount),
        "status": PENDING,
        "requested_by": requested_by,
        "approvals_required": approvals_required(required),
        "approvals": [],
        "rejected_by": None,
        "reason": None,
        "nonce": None,
        "tx_hash": None,
        "confirmations": 0,
        "fee": None,
        "error": None,
        "external_id": external_id,
        "note": note,
        "created_at": at,
        "updated_at": at,
        "path": path,
    }


def new_batch(
    *,
    bid: str,
    wallet_id: str,
    chain: str,
    sender: str,
    requested_by: str,
    required: int,
    at: str,
    item_ids: list[str],
    external_id: str | None = None,
) -> dict[str, Any]:
    """The record of a new batch (its items are withdrawals with its batch_id)."""
    return {
        "id": bid,
        "wallet_id": wallet_id,
        "chain": chain,
        "from": sender,
        "status": PENDING,
        "requested_by": requested_by,
        "approvals_required": approvals_required(required),
        "approvals": [],
        "rejected_by": None,
        "reason": None,
        "external_id": external_id,
        "created_at": at,
        "updated_at": at,
        "item_ids": item_ids,
    }
