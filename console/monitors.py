"""Monitors and wallets in the console: lists, a monitor's form (create and edit, through
the API's own create and patch), pause and resume; wallets and their addresses."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from api.http import validation_error
from console.context import Console
from console.forms import field, fields
from core.errors import ApiError
from schemas.monitor import ALL_ASSETS, MonitorCreate, MonitorPatch

MAX_TEXTAREA = 2_000_000  # the addresses box: about 45,000 addresses


def form_fields(form: MultiDictProxy[Any], editing: bool) -> dict[str, Any]:
    """A monitor's form as the API's body (what the form leaves empty is left out)."""
    addresses = [a.strip() for a in field(form, "addresses", MAX_TEXTAREA).split() if a.strip()]
    data: dict[str, Any] = {
        "name": field(form, "name", 200),
        "wallet_ids": fields(form, "wallet_ids", 100),
        "assets": fields(form, "assets", 16) or list(ALL_ASSETS),
        "direction": field(form, "direction", 8) or "in",
    }
    if "addresses" in form or not editing:  # a list too long to edit here has no box
        data["addresses"] = addresses
    if not editing:
        data["chain"] = field(form, "chain", 32)
    conf = field(form, "confirmations", 6)
    if conf:
        data["confirmations"] = int(conf) if conf.isdigit() else conf
    url = field(form, "webhook_url", 2048)
    if url:
        data["webhook"] = {"url": url}
    return data


class MonitorPages:
    def __init__(self, c: Console) -> None:
        self.c = c

    def _record(self, request: web.Request) -> dict[str, Any]:
        """The monitor's stored record (what a change is made to)."""
        m = self.c.monitors.monitors.get(request.match_info["id"])
        if m is None:
            raise ApiError(404, "not_found", "There is no such monitor.")
        return m

    def _monitor(self, request: web.Request) -> dict[str, Any]:
        """The monitor as the API answers it (its whole list, up to the inline limit)."""
        return self.c.monitors.answer(self._record(request))

    def _form(
        self, request: web.Request, m: dict[str, Any] | None, status: int = 200, **extra: Any
    ) -> web.Response:
        return self.c.render(
            request,
            "monitor_form.html",
            status,
            m=m,
            chains=[ch.name for ch in self.c.s.chains],
            wallets=sorted(self.c.wallets.wallets.values(), key=lambda w: str(w["id"])),
            all_assets=ALL_ASSETS,
            **extra,
        )

    async def list(self, request: web.Request) -> web.Response:
        rows = sorted(
            (self.c.monitors.answer(m) for m in self.c.monitors.monitors.values()),
            key=lambda m: (str(m.get("name") or ""), m["id"]),
        )
        return self.c.render(request, "monitors.html", rows=rows)

    async def new(self, request: web.Request) -> web.Response:
        return self._form(request, None)

    async def edit(self, request: web.Request) -> web.Response:
        return self._form(request, self._monitor(request))

    async def create(self, request: web.Request) -> web.Response:
        form = await request.post()
        data = form_fields(form, editing=False)
        try:
            body = MonitorCreate.model_validate(data)
            m = await self.c.monitor_api.create(body)
        except (ValidationError, ApiError) as exc:
            err = validation_error(exc) if isinstance(exc, ValidationError) else exc
            await self.c.audited(
                request, "monitor.create", None, "error", err.status, {"code": err.code}
            )
            return self._form(request, None, 422, error=_says(err), draft=data)
        await self.c.audited(request, "monitor.create", m["id"], "ok", 201)
        secret = (m.get("webhook") or {}).get("secret")
        return self.c.render(request, "monitor_created.html", 201, m=m, secret=secret)

    async def update(self, request: web.Request) -> web.Response:
        current = self._record(request)
        form = await request.post()
        data = form_fields(form, editing=True)
        if "webhook" in data and current.get("webhook"):
            data["webhook"]["secret"] = current["webhook"].get("secret")
        try:
            m = await self.c.monitor_api.patch(current, MonitorPatch.model_validate(data))
        except (ValidationError, ApiError) as exc:
            err = validation_error(exc) if isinstance(exc, ValidationError) else exc
            await self.c.audited(
                request, "monitor.update", current["id"], "error", err.status, {"code": err.code}
            )
            shown = self.c.monitors.answer(current)
            return self._form(request, shown, 422, error=_says(err), draft=data)
        await self.c.audited(request, "monitor.update", m["id"], "ok", 200)
        return self.c.back(request, f"/admin/monitors/{m['id']}", "Saved.")

    async def pause(self, request: web.Request) -> web.Response:
        current = self._record(request)
        active = request.path.endswith("/resume")
        m = await self.c.monitor_api.patch(current, MonitorPatch(active=active))
        action = "monitor.resume" if active else "monitor.pause"
        await self.c.audited(request, action, m["id"], "ok", 200)
        return self.c.back(
            request,
            "/admin/monitors",
            f"{m.get('name') or m['id']} {'resumed' if active else 'paused'}.",
        )

    async def wallets(self, request: web.Request) -> web.Response:
        rows = sorted(self.c.wallets.wallets.values(), key=lambda w: str(w["id"]))
        count: dict[str, int] = {}
        for wid, _ in self.c.wallets.assignments:
            count[wid] = count.get(wid, 0) + 1
        return self.c.render(
            request, "wallets.html", rows=rows, count=count, treasuries=self.c.wallets.treasuries
        )

    async def wallet(self, request: web.Request) -> web.Response:
        w = self.c.wallets.wallets.get(request.match_info["id"])
        if w is None:
            raise ApiError(404, "not_found", "There is no such wallet.")
        q = request.query.get("q", "")[:100].lower()
        addrs = [
            a
            for (wid, ref), a in self.c.wallets.assignments.items()
            if wid == w["id"] and (not q or q in ref.lower() or q in str(a.get("address")).lower())
        ]
        addrs.sort(key=lambda a: int(a.get("index") or 0))
        return self.c.render(
            request,
            "wallet.html",
            w=w,
            addrs=addrs[:500],
            total=len(addrs),
            q=q,
            treasury=self.c.wallets.treasuries.get(w["id"]),
            balances=self.c.wallets.ledger.items(w["id"], None),
        )


def _says(err: ApiError) -> str:
    return f"{err.field}: {err.message}" if err.field else err.message
