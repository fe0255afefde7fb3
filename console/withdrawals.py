"""Withdrawals in the console: the approval queue, one withdrawal's timeline, and approve,
reject and cancel, one or many. Every decision goes through the API's own path
(`WithdrawalsApi.decide_as`), so the agent's state machine, not this page, enforces four
eyes: a requester's forged approve is refused there as it is for an API call."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console.context import OPERATOR, Console, may_do
from console.csvout import csv_response
from console.forms import field, fields
from core.errors import ApiError
from streams import withdrawal as w
from streams.units import format_units

VERBS = ("approve", "reject", "cancel")
DONE = {"approve": "approved", "reject": "rejected", "cancel": "cancelled"}
OPEN = ("pending_approval", "approved", "signing", "broadcast")


def can_approve(rec: dict[str, Any], name: str) -> bool:
    """Whether to offer this operator the approve button: pending, not theirs, not yet
    approved by them (the state machine decides all the same)."""
    if rec.get("status") != w.PENDING or rec.get("requested_by") == name:
        return False
    return all(a.get("principal") != name for a in rec.get("approvals") or [])


def timeline(rec: dict[str, Any]) -> list[tuple[str, str]]:
    """(when, what) steps of a withdrawal, from its record."""
    steps = [(str(rec.get("created_at") or ""), f"requested by {rec.get('requested_by')}")]
    for a in rec.get("approvals") or []:
        steps.append((str(a.get("at") or ""), f"approved by {a.get('principal')}"))
    status = str(rec.get("status"))
    at = str(rec.get("updated_at") or "")
    if rec.get("rejected_by"):
        steps.append((at, f"rejected by {rec['rejected_by']}: {rec.get('reason') or ''}"))
    if rec.get("nonce") is not None:
        steps.append(("", f"signed with nonce {rec['nonce']}"))
    if rec.get("tx_hash"):
        steps.append(("", f"broadcast as {rec['tx_hash']}"))
    if status in ("broadcast", "confirmed") and rec.get("confirmations"):
        steps.append(("", f"{rec['confirmations']} confirmations"))
    if status in ("confirmed", "failed", "cancelled"):
        steps.append((at, status + (f": {rec['error']}" if rec.get("error") else "")))
    return steps


def amount_text(rec: dict[str, Any]) -> str:
    a = rec.get("asset") or {}
    shown = format_units(int(rec.get("amount") or 0), a.get("decimals"), True)
    return f"{shown} {a.get('symbol') or ''}"


class WithdrawalPages:
    def __init__(self, c: Console) -> None:
        self.c = c

    def _selected(self, request: web.Request) -> list[dict[str, Any]]:
        status = request.query.get("status", "pending_approval")
        recs = self.c.withdrawals.records.values()
        if status == "open":
            out = [r for r in recs if r.get("status") in OPEN]
        elif status in w.STATUSES:
            out = [r for r in recs if r.get("status") == status]
        else:
            out = list(recs)
        return sorted(out, key=lambda r: str(r.get("created_at") or ""), reverse=True)

    async def queue(self, request: web.Request) -> web.Response:
        me = request[OPERATOR]
        rows = self._selected(request)[:500]
        return self.c.render(
            request,
            "withdrawals.html",
            rows=rows,
            showing=request.query.get("status", "pending_approval"),
            statuses=w.STATUSES,
            can_approve=lambda r: can_approve(r, me.name),
            amount=amount_text,
        )

    async def one(self, request: web.Request, template: str = "withdrawal.html") -> web.Response:
        me = request[OPERATOR]
        rec = self.c.withdrawals.records.get(request.match_info["id"])
        if rec is None:
            raise ApiError(404, "not_found", "There is no such withdrawal.")
        return self.c.render(
            request,
            template,
            w=rec,
            steps=timeline(rec),
            approvable=can_approve(rec, me.name),
            amount=amount_text(rec),
        )

    async def live(self, request: web.Request) -> web.Response:
        """The changing part of a withdrawal's page, for its script to refresh."""
        return await self.one(request, "_withdrawal_body.html")

    async def decide(self, request: web.Request) -> web.Response:
        """approve / reject / cancel the ids posted (one from a withdrawal's page, many from
        the queue); each is its own command and its own audit record."""
        form = await request.post()
        one = field(form, "one", 80)  # a row's own approve button, in the queue's bulk form
        verb = "approve" if one else field(form, "verb", 16)
        ids = [one] if one else fields(form, "id", 80, 500)
        back = field(form, "back", 200)
        back = back if back.startswith("/admin/withdrawals") else "/admin/withdrawals"
        if verb not in VERBS or not ids:
            return self.c.back(request, back, error="Choose withdrawals and what to do with them.")
        reason = field(form, "reason", 500) or None
        if verb == "reject" and not reason:
            return self.c.back(request, back, error="A rejection needs a reason.")
        me = request[OPERATOR]
        need = "operate" if verb == "cancel" else "approve"  # as the API's routes
        if not may_do(me, need):
            await self.c.audited(
                request,
                "auth.refused",
                ids[0],
                "refused",
                403,
                {"code": "forbidden", "route": f"withdrawal.{verb}"},
            )
            return self.c.back(request, back, error=f"Your roles do not allow you to {verb}.")
        done, failed = 0, []
        for wid in ids:
            try:
                await self.c.withdrawal_api.decide_as(me.principal, wid, verb, reason)
            except ApiError as exc:
                failed.append(f"{wid}: {exc.code}")
                await self.c.audited(
                    request, f"withdrawal.{verb}", wid, "error", exc.status, {"code": exc.code}
                )
                continue
            done += 1
            await self.c.audited(request, f"withdrawal.{verb}", wid, "ok", 200)
        msg = f"{done} {DONE[verb]}" if done else ""
        return self.c.back(request, back, msg, "; ".join(failed))

    async def export(self, request: web.Request) -> web.StreamResponse:
        rows = [
            [
                r.get("id"),
                r.get("status"),
                r.get("chain"),
                r.get("wallet_id"),
                r.get("from"),
                r.get("to"),
                (r.get("asset") or {}).get("symbol"),
                (r.get("asset") or {}).get("contract"),
                str(r.get("amount")),
                (r.get("asset") or {}).get("decimals"),
                r.get("requested_by"),
                " ".join(str(a.get("principal")) for a in r.get("approvals") or []),
                r.get("tx_hash"),
                r.get("nonce"),
                r.get("confirmations"),
                r.get("error"),
                r.get("external_id"),
                r.get("created_at"),
                r.get("updated_at"),
            ]
            for r in self._selected(request)
        ]
        head = [
            "id", "status", "chain", "wallet_id", "from", "to", "symbol", "contract",
            "amount", "decimals", "requested_by", "approved_by", "tx_hash", "nonce",
            "confirmations", "error", "external_id", "created_at", "updated_at",
        ]  # fmt: skip
        await self.c.audited(request, "export.withdrawals", None, "ok", 200, {"rows": len(rows)})
        return csv_response("withdrawals.csv", head, rows)
