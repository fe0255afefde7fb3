"""What every console handler works with: the views it reads (the API's own), the services it
acts through (the API's own, so an action in the console and an API call take one path),
the templates, and the audit writer."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jinja2
from aiohttp import web

from api.audit_writer import AuditWriter, Caller, Principal
from api.keys import KeysApi
from api.monitors import MonitorsApi
from api.withdrawals import WithdrawalsApi
from console.forms import FLASH, flash_of, flash_redirect
from core.publish import Publisher
from core.settings import Settings
from core.timefmt import iso_utc
from streams.apikeys import parse_rules
from streams.consoleauth import csrf_token
from streams.ipallow import client_address
from streams.roles import may
from streams.secretbox import SecretBox
from streams.units import format_units
from views.activity import ActivityView
from views.audit import AuditView
from views.deliveries import DeliveriesView
from views.keys import KeysView
from views.monitors import MonitorsView
from views.operators import OperatorsView
from views.wallets import WalletsView
from views.withdrawals import WithdrawalsView


@dataclass(frozen=True, slots=True)
class Operator:
    """Who a console request is for: a signed-in operator and their session."""

    name: str
    roles: frozenset[str]
    token: str  # the session's cookie value (only in memory, for the CSRF token)
    session_id: str

    @property
    def principal(self) -> Principal:
        return Principal(self.name, None, self.roles)


OPERATOR = web.RequestKey("bh.console.operator", Operator)
REQUEST_ID = web.RequestKey("bh.console.request_id", str)
PRE_TOKEN = web.RequestKey("bh.console.pre_token", str)  # the sign-in form's CSRF cookie
AUDITED = web.RequestKey("bh.console.audited", int)  # audit records this request wrote


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("console", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["units"] = lambda amount, decimals=None: (
        format_units(amount, decimals, group=True) if amount is not None else ""
    )
    env.filters["when"] = lambda ts: iso_utc(float(ts)).replace("T", " ") if ts else ""
    return env


@dataclass
class Console:
    """The console's dependencies, shared by its handlers."""

    s: Settings
    publisher: Publisher
    box: SecretBox | None
    monitors: MonitorsView
    wallets: WalletsView
    deliveries: DeliveriesView
    withdrawals: WithdrawalsView
    audit: AuditView
    operators: OperatorsView
    keys: KeysView | None = None
    activity: ActivityView | None = None
    env: jinja2.Environment = field(default_factory=_env)

    def __post_init__(self) -> None:
        self.trusted = parse_rules(self.s.auth.trusted_proxies)  # as the API's gate has them
        self.writer = AuditWriter(self.publisher, self.box)
        self.monitor_api = MonitorsApi(self.s, self.monitors, self.publisher)
        self.withdrawal_api = WithdrawalsApi(
            self.s, self.wallets, self.withdrawals, self.publisher, self.monitors
        )
        self.key_api = (
            KeysApi(self.keys, self.box, self.publisher)
            if self.keys is not None and self.box is not None
            else None
        )

    def render(
        self, request: web.Request, template: str, status: int = 200, **ctx: Any
    ) -> web.Response:
        """A page, with who is signed in, their CSRF token and the navigation."""
        me = request.get(OPERATOR)
        flash = request.cookies.get(FLASH)
        notice, error = flash_of(flash, me.token if me else None)
        ctx.setdefault("notice", notice)
        ctx.setdefault("error", error)
        page = self.env.get_template(template).render(
            me=me,
            csrf=csrf_for(request),
            path=request.path,
            query=request.query,
            may=lambda perm: me is not None and may_do(me, perm),
            **ctx,
        )
        resp = web.Response(text=page, status=status, content_type="text/html")
        if flash is not None:
            resp.del_cookie(FLASH, path="/admin")
        return resp

    def back(
        self, request: web.Request, url: str, notice: str = "", error: str = ""
    ) -> web.Response:
        """303 to a console page that then shows the notice or error once."""
        me = request[OPERATOR]
        return flash_redirect(url, me.token, self.s.console.secure_cookies, notice, error)

    def caller(self, request: web.Request, name: str | None = None) -> Caller:
        me = request.get(OPERATOR)
        rid = request.get(REQUEST_ID) or secrets.token_hex(12)
        who = name if name is not None else (me.name if me is not None else "anonymous")
        return Caller(rid, who, None, self.ip_of(request))

    async def audited(
        self,
        request: web.Request,
        action: str,
        target: str | None,
        outcome: str,
        status: int,
        detail: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        """One audit record for a console action, as an API call gets one."""
        d = {"via": "console", "method": request.method, "path": request.path, **(detail or {})}
        who = self.caller(request, name)
        n = request.get(AUDITED, 0)
        request[AUDITED] = n + 1
        if n:  # a bulk action: one record per item, each with its own id (ids dedupe)
            who = Caller(f"{who.request_id}-{n}", who.principal, who.key_id, who.ip)
        await self.writer.write([self.writer.entry(who, action, target, outcome, status, d)])

    def ip_of(self, request: web.Request) -> str | None:
        """The client's address, as the API's gate finds it (proxies only when trusted)."""
        forwarded = request.headers.getall("X-Forwarded-For", [])
        a = client_address(request.remote, forwarded, self.trusted)
        return str(a) if a is not None else None

    def now(self) -> float:
        return time.time()


def may_do(me: Operator, permission: str) -> bool:
    return may(me.roles, permission)


def csrf_for(request: web.Request) -> str:
    """The CSRF token the page's forms carry: the session's, or before sign-in the one of
    the sign-in cookie."""
    me = request.get(OPERATOR)
    if me is not None:
        return csrf_token(me.token)
    pre = request.get(PRE_TOKEN)
    return csrf_token(pre) if pre else ""
