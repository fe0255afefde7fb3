"""The HTTP API's application: middleware, health and metrics, and every resource's routes."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from api.audit import add_audit_routes
from api.audit_writer import AuditWriter
from api.auth import AuthGate
from api.balances import add_balance_routes
from api.checkout import add_checkout_routes
from api.deliveries import add_delivery_routes
from api.http import Handler, error_response, errors_middleware, json_response
from api.keys import add_key_routes
from api.monitors import add_monitor_routes
from api.openapi import add_openapi_route
from api.routes import Route, add
from api.sessions import add_session_routes
from api.wallets import add_wallet_routes
from api.withdrawal_routes import add_withdrawal_routes
from core import metrics
from core.publish import Publisher
from core.settings import Settings
from streams.readiness import Readiness
from streams.secretbox import SecretBox
from views.audit import AuditView
from views.claims import ClaimsView
from views.deliveries import DeliveriesView
from views.keys import KeysView
from views.monitors import MonitorsView
from views.wallets import WalletsView
from views.withdrawals import WithdrawalsView

# Answered before the worker has recovered its tables (and whatever its state): the probes.
ALWAYS_OPEN = frozenset({"/healthz", "/readyz", "/metrics"})


class HealthSource(Protocol):
    """What the API asks of the worker's health (agents/health.py)."""

    def readiness(self) -> Readiness:
        """Whether the worker is ready, and why not."""

    def serving(self) -> bool:
        """Whether requests may be answered yet (the tables were recovered once)."""


class AlwaysReady:
    """A health source for tests of the API alone: ready and serving."""

    def readiness(self) -> Readiness:
        checks = dict.fromkeys(("recovered", "assigned", "views", "chains"), True)
        return Readiness(True, [], {}, checks)

    def serving(self) -> bool:
        return True


class Api:
    """The API over settings, the views it reads and the publisher it writes through.

    The caller starts and stops the views (they outlive requests); views not given are
    made here, empty and not following their topics (for tests). Without `keys` (and the
    master key's `box`) every signed request is refused, unless the settings turn access
    control off (loopback only: the worker checks)."""

    def __init__(
        self,
        s: Settings,
        view: MonitorsView,
        publisher: Publisher,
        health: HealthSource,
        *,
        wallets: WalletsView | None = None,
        deliveries: DeliveriesView | None = None,
        keys: KeysView | None = None,
        claims: ClaimsView | None = None,
        audit: AuditView | None = None,
        withdrawals: WithdrawalsView | None = None,
        box: SecretBox | None = None,
    ) -> None:
        self.s = s
        self.view = view
        self.publisher = publisher
        self.health = health
        self.wallets = wallets if wallets is not None else WalletsView(s)
        self.deliveries = deliveries if deliveries is not None else DeliveriesView(s)
        self.keys = keys
        self.claims = claims if claims is not None else ClaimsView(s)
        self.audit = audit if audit is not None else AuditView(s)
        self.withdrawals = withdrawals if withdrawals is not None else WithdrawalsView(s)
        self.box = box

    def app(self) -> web.Application:
        """The aiohttp application."""
        writer = AuditWriter(self.publisher, self.box)
        gate = AuthGate(self.s, self.keys, self.claims, self.publisher, writer)
        a = web.Application(
            client_max_size=self.s.api_max_body_bytes,
            middlewares=[errors_middleware, self.warming_up, gate.middleware],
        )
        add(a, Route("GET", "/healthz", self.healthz, "liveness", None))
        add(a, Route("GET", "/readyz", self.readyz, "readiness, and what it waits for", None))
        add(
            a,
            Route(
                "GET",
                "/metrics",
                self.metrics,
                "Prometheus metrics",
                None,
                content_type="text/plain",
            ),
        )
        add_openapi_route(a)
        add_monitor_routes(a, self.s, self.view, self.publisher)
        add_delivery_routes(a, self.deliveries, self.view, self.publisher)
        add_wallet_routes(a, self.s, self.view, self.wallets, self.publisher)
        add_session_routes(a, self.s, self.wallets, self.publisher)
        add_balance_routes(a, self.wallets)
        add_checkout_routes(a, self.s, self.wallets)
        add_audit_routes(a, self.audit)
        add_withdrawal_routes(a, self.s, self.view, self.wallets, self.withdrawals, self.publisher)
        if self.keys is not None and self.box is not None:
            add_key_routes(a, self.keys, self.box, self.publisher)
        return a

    @web.middleware
    async def warming_up(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Until the worker has recovered its tables once, every request but the probes gets
        503 `not_ready` (the keys and claims it would be checked against are not read yet)."""
        if request.path in ALWAYS_OPEN or self.health.serving():
            return await handler(request)
        return error_response(503, "not_ready", "the worker is starting; retry")

    async def healthz(self, request: web.Request) -> web.Response:
        """Liveness: the process answers. `ready` is what /readyz would say."""
        return json_response({"status": "ok", "ready": self.health.readiness().ready})

    async def readyz(self, request: web.Request) -> web.Response:
        """Readiness: 200 when ready, else 503; the body says what is awaited."""
        r = self.health.readiness()
        return json_response(r.as_json(), status=200 if r.ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain")
