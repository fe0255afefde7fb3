"""Deliveries in the console: the log filtered by monitor, status, answer code and time;
one delivery's attempts; redelivery of one or many (the API's own redelivery)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.deliveries import redeliver_one
from console.context import Console
from console.forms import field, fields
from core.errors import ApiError
from streams.consolequery import delivery_matches, iso_bound, time_bound

LIMIT = 300
SCAN = 20_000  # newest records looked at for a filtered page
STATUSES = ("pending", "delivered", "failed")


class DeliveryPages:
    def __init__(self, c: Console) -> None:
        self.c = c

    def _select(self, q: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
        try:
            since, until = iso_bound(time_bound(q["since"])), iso_bound(time_bound(q["until"]))
        except ValueError as exc:
            return [], str(exc)
        view = self.c.deliveries
        items, _ = view.page(q["monitor_id"] or None, q["status"] or None, SCAN, None)
        out = [r for r in items if delivery_matches(r, q["code"], since, until)]
        return out[:LIMIT], ""

    async def page(self, request: web.Request) -> web.Response:
        keys = ("monitor_id", "status", "code", "since", "until")
        q = {k: request.query.get(k, "")[:100] for k in keys}
        if q["status"] not in ("", *STATUSES):
            q["status"] = ""
        rows, error = self._select(q)
        return self.c.render(
            request,
            "deliveries.html",
            q=q,
            rows=rows,
            statuses=STATUSES,
            monitors=sorted(
                self.c.monitors.monitors.values(), key=lambda m: str(m.get("name") or m["id"])
            ),
            back=request.path_qs,
            error=error,
        )

    async def one(self, request: web.Request) -> web.Response:
        rec = self.c.deliveries.get(request.match_info["id"])
        if rec is None:
            raise ApiError(
                404, "not_found", "There is no such delivery (or it is too old to keep)."
            )
        return self.c.render(request, "delivery.html", d=rec)

    async def redeliver(self, request: web.Request) -> web.Response:
        form = await request.post()
        ids = fields(form, "id", 100, 500)
        back = field(form, "back", 2000)
        back = back if back.startswith("/admin/deliveries") else "/admin/deliveries"
        if not ids:
            return self.c.back(request, back, error="Choose the deliveries to send again.")
        done, failed = [], []
        for did in ids:
            original = self.c.deliveries.get(did)
            if original is None:
                failed.append(f"{did}: not_found")
                continue
            try:
                rec = await redeliver_one(
                    self.c.deliveries, self.c.monitors, self.c.publisher, original
                )
            except ApiError as exc:
                failed.append(f"{did}: {exc.code}")
                await self.c.audited(
                    request, "delivery.redeliver", did, "error", exc.status, {"code": exc.code}
                )
                continue
            done.append(rec["id"])
            await self.c.audited(
                request, "delivery.redeliver", did, "ok", 202, {"redelivery": rec["id"]}
            )
        notice = f"{len(done)} sent again" if done else ""
        return self.c.back(request, back, notice, "; ".join(failed))
