"""The dashboard (chains, traffic, deliveries, signer, approvals waiting) and the balances
page with its treasury chart."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console.context import Console
from streams.chart import step_chart
from streams.ledger import asset_key

SIGNER_FRESH_S = 150.0  # a signer's key is seen in use at least every 60 s while it polls
CHART_W, CHART_H = 600, 160


def decimals_of(asset: dict[str, Any]) -> int | None:
    d = asset.get("decimals")
    if d is None and asset.get("kind") == "native":
        return 18
    return int(d) if d is not None else None


class Overview:
    def __init__(self, c: Console) -> None:
        self.c = c

    def _signers(self, now: float) -> list[dict[str, Any]]:
        """Each signer key's last use (a signer long-polls with it all the time)."""
        keys = self.c.keys
        if keys is None:
            return []
        out = []
        for kid, rec in keys.records.items():
            if "signer" not in (rec.get("roles") or []) or rec.get("revoked"):
                continue
            last = keys.last_used.get(kid)
            out.append(
                {
                    "key_id": kid,
                    "principal": rec.get("principal"),
                    "last_seen": last,
                    "connected": last is not None and now - last < SIGNER_FRESH_S,
                }
            )
        return sorted(out, key=lambda r: str(r["key_id"]))

    async def dashboard_live(self, request: web.Request) -> web.Response:
        """The dashboard's figures alone, for the page's script to refresh."""
        return await self.dashboard(request, "_dashboard_body.html")

    async def dashboard(
        self, request: web.Request, template: str = "dashboard.html"
    ) -> web.Response:
        now = self.c.now()
        records = self.c.withdrawals.records.values()
        waiting = sum(1 for r in records if r.get("status") == "pending_approval")
        moving = sum(1 for r in records if r.get("status") in ("approved", "signing", "broadcast"))
        chains = self.c.activity.chains(now) if self.c.activity is not None else []
        seen = {ch.chain for ch in chains}
        return self.c.render(
            request,
            template,
            chains=chains,
            silent=[ch.name for ch in self.c.s.chains if ch.name not in seen],
            events_per_min=self.c.wallets.events_per_minute(now),
            attempts_per_min=self.c.deliveries.attempts_per_minute(now),
            failing=self.c.deliveries.failing(now)[:20],
            dead_letters=self.c.deliveries.dead_letters(),
            signers=self._signers(now),
            waiting=waiting,
            moving=moving,
            monitors=len(self.c.monitors.monitors),
            wallets=len(self.c.wallets.wallets),
        )

    async def balances(self, request: web.Request) -> web.Response:
        led = self.c.wallets.ledger
        wallet_id = request.query.get("wallet_id", "")[:100] or None
        if wallet_id is not None and wallet_id not in self.c.wallets.wallets:
            wallet_id = None
        items = led.items(wallet_id, None)
        charts = []
        now_ms = int(self.c.now() * 1000)
        for (wid, user_ref, ak), series in sorted(led.history.items(), key=lambda kv: str(kv[0])):
            if user_ref is not None or (wallet_id and wid != wallet_id):
                continue
            asset = led.assets.get(ak) or {}
            chart = step_chart(series, now_ms, CHART_W, CHART_H)
            if chart is not None:
                charts.append(
                    {
                        "wallet_id": wid,
                        "asset": asset,
                        "chart": chart,
                        "decimals": decimals_of(asset),
                    }
                )
        return self.c.render(
            request,
            "balances.html",
            wallets=sorted(self.c.wallets.wallets.values(), key=lambda w: str(w["id"])),
            wallet_id=wallet_id or "",
            totals=led.totals(wallet_id),
            treasury=[i for i in items if i["user_ref"] is None],
            customers=[i for i in items if i["user_ref"] is not None][:500],
            customer_count=sum(1 for i in items if i["user_ref"] is not None),
            charts=charts,
            chart_w=CHART_W,
            chart_h=CHART_H,
            decimals_of=decimals_of,
            asset_key=asset_key,
        )
