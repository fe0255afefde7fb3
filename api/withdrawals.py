"""/v1/withdrawals and /v1/withdrawal-batches: requests, four-eyes decisions and reads.

A handler checks what it can see (the body, the wallet, the funds), then publishes a command
to the sender's partition of withdrawals.commands and answers what the agent decided: the
state machine there, not this handler, enforces four eyes."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from api.audit_writer import Principal, principal_of
from api.http import page_args, page_of, private_json, read_json
from core.errors import ApiError
from core.publish import Message, Publisher
from core.settings import Settings
from core.timefmt import iso_utc
from schemas.wallet import wallet_monitor_id
from schemas.withdrawal import BatchCreate, ItemCreate, RejectBody, WithdrawalCreate
from streams import withdrawal as w
from streams.ledger import asset_key
from streams.match import partition_for
from streams.withdrawalplan import sender_key
from views.monitors import MonitorsView
from views.wallets import WalletsView
from views.withdrawals import WithdrawalsView

STATUSES = set(w.STATUSES)


def idempotency_key(request: web.Request) -> str:
    """The request's idempotency key, which withdrawals require."""
    key = request.headers.get("idempotency-key")
    if not key:
        raise ApiError(
            400,
            "idempotency_key_required",
            "withdrawals need an idempotency-key header",
            "idempotency-key",
        )
    return key


@dataclass
class WithdrawalsApi:
    """The withdrawal handlers over settings, the two views and a publisher."""

    s: Settings
    wallets: WalletsView
    view: WithdrawalsView
    publisher: Publisher
    monitors: MonitorsView | None = None

    def _threshold(self, wallet: dict[str, Any]) -> int:
        """Confirmations a withdrawal waits for: the wallet's monitor's, else the chain's."""
        mons = self.monitors.monitors if self.monitors else {}
        mon = mons.get(wallet_monitor_id(str(wallet["id"])))
        if mon and int(mon.get("confirmations") or 0) > 0:
            return int(mon["confirmations"])
        chain = self.s.chain(str(wallet["chain"]))
        return chain.confirmations if chain else 1

    def _wallet(self, wallet_id: str) -> dict[str, Any]:
        wallet = self.wallets.wallets.get(wallet_id)
        if wallet is None:
            raise ApiError(404, "not_found", f"no wallet {wallet_id}", "wallet_id")
        if wallet.get("source") != "signer":
            raise ApiError(
                409,
                "no_signer",
                "only a wallet reported by a blockhook-signer can pay out",
                "wallet_id",
            )
        return wallet

    def _source(self, wallet: dict[str, Any], user_ref: str | None) -> tuple[str, str]:
        """The paying address and its derivation path."""
        if user_ref is None:
            t = self.wallets.treasuries.get(wallet["id"])
            if t is None:
                raise ApiError(503, "not_ready", "the wallet's treasury is not watched yet; retry")
            return str(t["address"]), str(t["path"])
        a = self.wallets.assignments.get((wallet["id"], user_ref))
        if a is None:
            raise ApiError(404, "not_found", f"no address for user_ref {user_ref!r}", "from")
        return str(a["address"]), str(a["path"])

    def _asset(self, wallet: dict[str, Any], item: ItemCreate) -> dict[str, Any]:
        chain = self.s.chain(wallet["chain"])
        if item.asset == "native":
            symbol = chain.native_symbol if chain else None
            return {
                "kind": "native",
                "contract": None,
                "symbol": symbol,
                "decimals": 18,
                "token_id": None,
            }
        contract = item.asset.contract.lower()
        known = self.wallets.ledger.assets.get(("erc20", contract, None)) or {}
        return {
            "kind": "erc20",
            "contract": contract,
            "symbol": known.get("symbol"),
            "decimals": known.get("decimals"),
            "token_id": None,
        }

    def available(
        self, wallet_id: str, user_ref: str | None, sender: str, asset: dict[str, Any]
    ) -> int:
        """Confirmed balance minus what withdrawals in progress will take (a confirmed one
        counts until its own transfer out is on the balance)."""
        led = self.wallets.ledger
        ak = asset_key(asset)
        reserved = self.view.reserved(wallet_id, sender, ak)
        for r in self.view.records.values():
            if r.get("status") != w.CONFIRMED or r.get("from") != sender:
                continue
            if asset_key(r.get("asset") or {}) != ak:
                continue
            if (r.get("chain"), r.get("tx_hash")) not in led.sent_txs:
                reserved += int(r.get("amount") or 0)
        return led.balance(wallet_id, user_ref, asset) - reserved

    async def _command(self, chain: str, sender: str, cmd: dict[str, Any]) -> dict[str, Any]:
        """Publish a command to the sender's partition and wait for the agent's decision."""
        cid = "cmd_" + secrets.token_hex(16)
        cmd = {**cmd, "command_id": cid, "at": iso_utc(time.time())}
        p = partition_for(chain, sender, self.s.partitions)
        key = sender_key(chain, sender).encode()
        await self.publisher.publish([Message("withdrawals.commands", key, orjson.dumps(cmd), p)])
        d = await self.view.decision(cid, self.s.withdrawals.decide_timeout_s)
        if d is None:
            raise ApiError(503, "not_ready", "the withdrawal is not decided yet; look it up again")
        if not d.get("ok"):
            raise ApiError(int(d.get("status") or 409), str(d.get("code")), str(d.get("message")))
        return d

    async def create(self, request: web.Request) -> web.Response:
        idem = idempotency_key(request)
        body: WithdrawalCreate = await read_json(request, WithdrawalCreate)
        who = principal_of(request)
        wallet = self._wallet(body.wallet_id)
        user_ref = None if body.from_ == "treasury" else body.from_.user_ref
        sender, path = self._source(wallet, user_ref)
        asset = self._asset(wallet, body)
        amount = int(body.amount)
        if amount > self.available(wallet["id"], user_ref, sender, asset):
            raise ApiError(
                409,
                "insufficient_funds",
                "the source's confirmed balance is below the amount",
                "amount",
            )
        rec = w.new_withdrawal(
            wid=w.withdrawal_id(who.name, idem),
            wallet_id=wallet["id"],
            chain=wallet["chain"],
            sender=sender,
            user_ref=user_ref,
            path=path,
            to=body.to.lower(),
            asset=asset,
            amount=amount,
            requested_by=who.name,
            required=self.s.withdrawals.approvals_required,
            at=iso_utc(time.time()),
            external_id=body.external_id,
            note=body.note,
        )
        rec["threshold"] = self._threshold(wallet)
        d = await self._command(wallet["chain"], sender, {"type": "request", "withdrawal": rec})
        return private_json(d["answer"], 201)

    async def create_batch(self, request: web.Request) -> web.Response:
        idem = idempotency_key(request)
        body: BatchCreate = await read_json(request, BatchCreate)
        who = principal_of(request)
        wallet = self._wallet(body.wallet_id)
        sender, path = self._source(wallet, None)
        bid = w.batch_id(who.name, idem)
        at = iso_utc(time.time())
        need: dict[Any, tuple[dict[str, Any], int]] = {}
        items = []
        for i, item in enumerate(body.items):
            asset = self._asset(wallet, item)
            ak = asset_key(asset)
            need[ak] = (asset, need.get(ak, (asset, 0))[1] + int(item.amount))
            items.append(
                w.new_withdrawal(
                    wid=w.item_id(bid, i),
                    wallet_id=wallet["id"],
                    chain=wallet["chain"],
                    sender=sender,
                    user_ref=None,
                    path=path,
                    to=item.to.lower(),
                    asset=asset,
                    amount=int(item.amount),
                    requested_by=who.name,
                    required=self.s.withdrawals.approvals_required,
                    at=at,
                    external_id=item.external_id,
                    note=body.note,
                    batch=bid,
                )
            )
        for asset, total in need.values():
            if total > self.available(wallet["id"], None, sender, asset):
                raise ApiError(
                    409,
                    "insufficient_funds",
                    "the treasury's confirmed balance is below the batch's total",
                    "items",
                )
        batch = w.new_batch(
            bid=bid,
            wallet_id=wallet["id"],
            chain=wallet["chain"],
            sender=sender,
            requested_by=who.name,
            required=self.s.withdrawals.approvals_required,
            at=at,
            item_ids=[i["id"] for i in items],
            external_id=body.external_id,
        )
        threshold = self._threshold(wallet)
        items = [{**i, "threshold": threshold} for i in items]
        cmd = {"type": "request_batch", "batch": batch, "items": items}
        d = await self._command(wallet["chain"], sender, cmd)
        return private_json(d["answer"], 201)

    async def decide(self, request: web.Request) -> web.Response:
        """approve, reject or cancel one withdrawal or one batch (the path says which)."""
        target = request.match_info["id"]
        verb = request.path.rsplit("/", 1)[1]
        reason = None
        if verb == "reject":
            body: RejectBody = await read_json(request, RejectBody)
            reason = body.reason
        answer = await self.decide_as(principal_of(request), target, verb, reason)
        return private_json(answer)

    async def decide_as(
        self, who: Principal, target: str, verb: str, reason: str | None = None
    ) -> dict[str, Any]:
        """approve, reject or cancel a withdrawal or batch for a principal (the API's and the
        console's way): the agent's state machine decides; its answer, or an ApiError."""
        table = self.view.batches if target.startswith("wbt_") else self.view.records
        rec = table.get(target)
        if rec is None:
            raise ApiError(404, "not_found", f"no such withdrawal or batch {target}", "id")
        cmd: dict[str, Any] = {
            "type": verb,
            "target": target,
            "principal": who.name,
            "key_id": who.key_id,
        }
        if verb == "reject":
            cmd["reason"] = reason
        if verb == "cancel":
            cmd["is_admin"] = "admin" in who.roles
        d = await self._command(str(rec["chain"]), str(rec["from"]), cmd)
        answer: dict[str, Any] = d["answer"]
        return answer

    async def get_one(self, request: web.Request) -> web.Response:
        wid = request.match_info["id"]
        rec = self.view.records.get(wid)
        if rec is None:
            raise ApiError(404, "not_found", f"no withdrawal {wid}", "id")
        return private_json(rec)

    async def get_batch(self, request: web.Request) -> web.Response:
        bid = request.match_info["id"]
        b = self.view.batches.get(bid)
        if b is None:
            raise ApiError(404, "not_found", f"no batch {bid}", "id")
        return private_json(w.public_batch(b, self.view.batch_items(b)))

    async def list(self, request: web.Request) -> web.Response:
        limit, cursor = page_args(request)
        status, wallet_id = request.query.get("status"), request.query.get("wallet_id")
        if status is not None and status not in STATUSES:
            raise ApiError(
                400, "invalid_query", f"status must be one of {sorted(STATUSES)}", "status"
            )
        ids = sorted(
            i
            for i, r in self.view.records.items()
            if i > cursor
            and (status is None or r.get("status") == status)
            and (wallet_id is None or r.get("wallet_id") == wallet_id)
        )
        page, next_cursor = page_of(ids, limit)
        return private_json({"items": [self.view.records[i] for i in page], "cursor": next_cursor})
