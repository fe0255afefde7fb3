"""The console's application, mounted at /admin on every worker's API: its pages with the
permission each needs (the API's permissions), its static files, and its gate."""

from __future__ import annotations

import importlib.resources

from aiohttp import web

from api.http import static_file
from console.admin import AdminPages
from console.context import Console
from console.deliveries import DeliveryPages
from console.deposits import DepositPages
from console.monitors import MonitorPages
from console.overview import Overview
from console.session import PREFIX, Gate, Page, add_page
from console.signin import SignIn
from console.withdrawals import WithdrawalPages

STATIC = importlib.resources.files("console").joinpath("static")
TYPES = {".css": "text/css", ".js": "application/javascript"}


async def static(request: web.Request) -> web.Response:
    return static_file(STATIC, request.match_info["name"], TYPES)


def console_app(c: Console) -> web.Application:
    """The console as an aiohttp sub-application (mount it at /admin)."""
    a = web.Application(middlewares=[Gate(c).middleware], client_max_size=c.s.api_max_body_bytes)
    si, ov, dep = SignIn(c), Overview(c), DepositPages(c)
    mon, dl, wd, adm = MonitorPages(c), DeliveryPages(c), WithdrawalPages(c), AdminPages(c)
    pages = [
        Page("GET", "/static/{name}", static, None),
        Page("GET", "/signin", si.form, None),
        Page("POST", "/signin", si.submit, None, "console.signin"),
        Page("POST", "/signout", si.signout, "read", "console.signout"),
        Page("POST", "/signout-everywhere", si.signout_everywhere, "read", "console.signout_all"),
        Page("GET", "/account", si.account, "read"),
        Page("POST", "/account/totp", si.totp_start, "read", "console.totp_enable"),
        Page("POST", "/account/totp/confirm", si.totp_confirm, "read", "console.totp_enable"),
        Page("POST", "/account/totp/disable", si.totp_disable, "read", "console.totp_disable"),
        Page("POST", "/account/password", si.password, "read", "console.password"),
        Page("GET", "/", ov.dashboard, "read"),
        Page("GET", "/live/dashboard", ov.dashboard_live, "read"),
        Page("GET", "/balances", ov.balances, "read"),
        Page("GET", "/deposits", dep.page, "read"),
        Page("GET", "/deposits/rows", dep.rows, "read"),
        Page("GET", "/deposits.csv", dep.export, "read"),
        Page("GET", "/monitors", mon.list, "read"),
        Page("GET", "/monitors/new", mon.new, "operate"),
        Page("POST", "/monitors", mon.create, "operate", "monitor.create"),
        Page("GET", "/monitors/{id}", mon.edit, "read"),
        Page("POST", "/monitors/{id}", mon.update, "operate", "monitor.update"),
        Page("POST", "/monitors/{id}/pause", mon.pause, "operate", "monitor.pause"),
        Page("POST", "/monitors/{id}/resume", mon.pause, "operate", "monitor.resume"),
        Page("GET", "/wallets", mon.wallets, "read"),
        Page("GET", "/wallets/{id}", mon.wallet, "read"),
        Page("GET", "/deliveries", dl.page, "read"),
        Page("GET", "/deliveries/{id}", dl.one, "read"),
        Page("POST", "/deliveries/redeliver", dl.redeliver, "operate", "delivery.redeliver"),
        Page("GET", "/withdrawals", wd.queue, "read"),
        Page("GET", "/withdrawals.csv", wd.export, "read"),
        Page("GET", "/withdrawals/{id}", wd.one, "read"),
        Page("GET", "/withdrawals/{id}/live", wd.live, "read"),
        # approve, reject or cancel: each needs what its API route needs, which the agent's
        # state machine checks per verb (an operator may cancel their own; approve needs
        # `approve`); the gate lets in anyone who may do one of them.
        Page("POST", "/withdrawals/decide", wd.decide, "read", "withdrawal.decide"),
        Page("GET", "/keys", adm.keys, "admin"),
        Page("POST", "/keys", adm.create_key, "admin", "key.create"),
        Page("POST", "/keys/{id}/revoke", adm.revoke_key, "admin", "key.revoke"),
        Page("GET", "/operators", adm.operators, "admin"),
        Page("POST", "/operators", adm.create_operator, "admin", "operator.create"),
        Page(
            "POST",
            "/operators/{name}/{verb:disable|enable|signout}",
            adm.change_operator,
            "admin",
            "operator.change",
        ),
        Page("GET", "/audit", adm.audit, "admin"),
        Page("GET", "/audit.csv", adm.export_audit, "admin"),
    ]
    for p in pages:
        add_page(a, p)
    return a


def mount(app: web.Application, c: Console) -> None:
    """Serve the console at /admin on the API's application."""

    async def to_console(request: web.Request) -> web.Response:
        return web.Response(status=308, headers={"Location": PREFIX + "/"})

    app.router.add_get(PREFIX, to_console)
    app.add_subapp(PREFIX, console_app(c))
