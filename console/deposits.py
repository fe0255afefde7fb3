"""Deposits in the console: a search by customer, address, transaction, asset and time,
whose rows refresh in place as deposits confirm; and its CSV export."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console.context import Console
from console.csvout import csv_response
from core.timefmt import iso_utc
from streams.consolequery import select_deposits, time_bound
from streams.ledger import Deposit

LIMIT = 500
STATES = ("seen", "confirmed", "reverted")


class DepositPages:
    def __init__(self, c: Console) -> None:
        self.c = c

    def _query(self, request: web.Request) -> tuple[dict[str, str], list[Deposit], str]:
        q = {k: request.query.get(k, "")[:200] for k in ("q", "asset", "state", "since", "until")}
        if q["state"] not in ("", *STATES):
            q["state"] = ""
        try:
            since, until = time_bound(q["since"]), time_bound(q["until"])
        except ValueError as exc:
            return q, [], str(exc)
        found = select_deposits(
            self.c.wallets.ledger.deposits.values(), q["q"], q["asset"], q["state"], since, until
        )
        return q, found, ""

    async def page(self, request: web.Request, template: str = "deposits.html") -> web.Response:
        q, found, error = self._query(request)
        return self.c.render(
            request,
            template,
            q=q,
            rows=found[:LIMIT],
            total=len(found),
            states=STATES,
            qs=request.query_string,
            error=error,
        )

    async def rows(self, request: web.Request) -> web.Response:
        """The table's body alone, for the page's script to refresh."""
        return await self.page(request, "_deposit_rows.html")

    async def export(self, request: web.Request) -> web.StreamResponse:
        _, found, _ = self._query(request)
        head = [
            "first_seen", "wallet_id", "user_ref", "address", "symbol", "contract", "amount",
            "decimals", "state", "confirmations", "tx_hash", "block_number",
        ]  # fmt: skip
        rows: list[list[Any]] = [
            [
                iso_utc(d.first_ms / 1000),
                d.wallet_id,
                d.user_ref,
                d.address,
                d.asset.get("symbol"),
                d.asset.get("contract"),
                str(d.amount),
                d.asset.get("decimals"),
                d.state,
                d.confirmations,
                d.tx_hash,
                d.block_number,
            ]
            for d in found
        ]
        await self.c.audited(request, "export.deposits", None, "ok", 200, {"rows": len(rows)})
        return csv_response("deposits.csv", head, rows)
