"""The signer's endpoints: the chains it reports a key for, its wallets, the long poll for
signing requests and its answers. Only keys with the `signer` role reach them, and a signer
sees and answers only the requests of wallets it reported itself."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from api.audit_writer import principal_of
from api.http import private_json, read_json
from api.wallets import WalletsApi, wallet_out
from chain.hd import XpubError, parse_account_xpub, treasury_address
from core.errors import ApiError
from core.publish import Message, Publisher
from core.settings import Settings
from core.timefmt import iso_utc
from schemas.wallet import wallet_id_for
from schemas.withdrawal import SignerWalletBody, SigningAnswer
from streams.match import partition_for
from streams.partition import wallet_partition
from streams.withdrawalplan import sender_key
from views.monitors import MonitorsView
from views.wallets import WalletsView
from views.withdrawals import WithdrawalsView

MAX_WAIT_S = 30


@dataclass
class SignerApi:
    """The signer's handlers."""

    s: Settings
    monitors: MonitorsView
    wallets: WalletsView
    view: WithdrawalsView
    publisher: Publisher

    def _mine(self, principal: str) -> set[str]:
        return {
            i
            for i, wal in self.wallets.wallets.items()
            if wal.get("source") == "signer" and wal.get("signer") == principal
        }

    async def chains(self, request: web.Request) -> web.Response:
        items = [{"chain": c.name, "chain_id": c.chain_id} for c in self.s.chains]
        return private_json({"items": items})

    async def report_wallet(self, request: web.Request) -> web.Response:
        """Register the signer's account key for a chain (once: found again afterwards),
        and have its treasury watched."""
        body: SignerWalletBody = await read_json(request, SignerWalletBody)
        chain = self.s.chain(body.chain)
        if chain is None:
            raise ApiError(422, "unknown_chain", f"unknown chain {body.chain!r}", "chain")
        try:
            key = parse_account_xpub(body.xpub, testnet_ok=chain.testnet)
        except XpubError as exc:
            raise ApiError(422, exc.code, exc.message, "xpub") from None
        who = principal_of(request).name
        wid = wallet_id_for(chain.name, key.xpub)
        old = self.wallets.wallets.get(wid)
        if old is not None and old.get("source") == "signer" and old.get("signer") != who:
            raise ApiError(409, "conflict", "another signer reported this key", "xpub")
        status = 200
        if old is None or old.get("source") != "signer":
            status = 201
            await WalletsApi(self.s, self.monitors, self.wallets, self.publisher).ensure_monitor(
                wid, "signer", chain
            )
            record = {
                "id": wid,
                "chain": chain.name,
                "xpub": key.xpub,
                "label": (old or {}).get("label") or "signer",
                "source": "signer",
                "treasury": treasury_address(key),
                "signer": who,
            }
            msg = Message("wallets", wid.encode(), orjson.dumps(record))
            await self.publisher.publish([msg])
        if wid not in self.wallets.treasuries:
            req = {"wallet_id": wid, "chain": chain.name, "xpub": key.xpub, "treasury": True}
            p = wallet_partition(wid, self.s.partitions)
            msg = Message("wallets.requests", wid.encode(), orjson.dumps(req), p)
            await self.publisher.publish([msg])

        def ready() -> bool:
            wal = self.wallets.wallets.get(wid) or {}
            return wal.get("source") == "signer" and wid in self.wallets.treasuries

        if not await self.wallets.wait_for(ready, self.s.wallet_assign_timeout_s):
            raise ApiError(503, "not_ready", "the wallet is stored but not watched yet; retry")
        return private_json(wallet_out(self.wallets.wallets[wid], key), status)

    async def requests(self, request: web.Request) -> web.Response:
        """The long poll: this signer's pending requests, as soon as there is one."""
        try:
            wait = min(MAX_WAIT_S, max(0, int(request.query.get("wait", "0"))))
            limit = min(500, max(1, int(request.query.get("limit", "100"))))
        except ValueError:
            raise ApiError(400, "invalid_query", "wait and limit are integers", "wait") from None
        mine = self._mine(principal_of(request).name)
        items = await self.view.wait_pending(mine, limit, wait)
        return private_json({"items": items})

    async def answer(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        body: SigningAnswer = await read_json(request, SigningAnswer)
        if (body.signed_tx is None) == (body.refused is None):
            raise ApiError(
                400, "invalid_body", "send exactly one of signed_tx and refused", "signed_tx"
            )
        req = self.view.signing.get(sid)
        if req is None:
            raise ApiError(
                409, "not_pending", "this signing request is not waiting for an answer", "id"
            )
        if req.get("wallet_id") not in self._mine(principal_of(request).name):
            raise ApiError(403, "forbidden", "this request is for another signer's wallet", "id")
        wd: dict[str, Any] = req.get("withdrawal") or {}
        cmd: dict[str, Any] = {
            "type": "signed" if body.signed_tx else "refused",
            "command_id": "cmd_" + secrets.token_hex(16),
            "at": iso_utc(time.time()),
            "signing_id": sid,
            "withdrawal_id": wd.get("id"),
            "principal": principal_of(request).name,
        }
        if body.signed_tx:
            cmd["signed_tx"] = body.signed_tx
        else:
            cmd["reason"] = body.refused
        chain, sender = str(req["chain"]), str(req["from"])
        p = partition_for(chain, sender, self.s.partitions)
        key = sender_key(chain, sender).encode()
        await self.publisher.publish([Message("withdrawals.commands", key, orjson.dumps(cmd), p)])
        d = await self.view.decision(cmd["command_id"], self.s.withdrawals.decide_timeout_s)
        if d is None:
            raise ApiError(503, "not_ready", "the answer is not decided yet; send it again")
        if not d.get("ok"):
            raise ApiError(
                int(d.get("status") or 409), str(d.get("code")), str(d.get("message")), "id"
            )
        return private_json({"id": sid, "accepted": True}, 202)
