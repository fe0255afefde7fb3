"""The HTTP API's application: middleware, health and metrics, and every resource's routes."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from api.balances import add_balance_routes
from api.checkout import add_checkout_routes
from api.deliveries import add_delivery_routes
from api.http import errors_middleware, json_response
from api.monitors import add_monitor_routes
from api.sessions import add_session_routes
from api.wallets import add_wallet_routes
from core import metrics
from core.publish import Publisher
from core.settings import Settings
from views.deliveries import DeliveriesView
from views.monitors import MonitorsView
from views.wallets import WalletsView


class Api:
    """The API over settings, the views it reads and the publisher it writes through.

    The caller starts and stops the views (they outlive requests); views not given are
    made here, empty and not following their topics (for tests)."""

    def __init__(
        self,
        s: Settings,
        view: MonitorsView,
        publisher: Publisher,
        is_ready: Callable[[], bool],
        *,
        wallets: WalletsView | None = None,
        deliveries: DeliveriesView | None = None,
    ) -> None:
        self.s = s
        self.view = view
        self.publisher = publisher
        self.is_ready = is_ready
        self.wallets = wallets if wallets is not None else WalletsView(s)
        self.deliveries = deliveries if deliveries is not None else DeliveriesView(s)

    def app(self) -> web.Application:
        """The aiohttp application."""
        a = web.Application(
            client_max_size=self.s.api_max_body_bytes, middlewares=[errors_middleware]
        )
        a.router.add_get("/healthz", self.healthz)
        a.router.add_get("/metrics", self.metrics)
        add_monitor_routes(a, self.s, self.view, self.publisher)
        add_delivery_routes(a, self.deliveries, self.view, self.publisher)
        add_wallet_routes(a, self.s, self.view, self.wallets, self.publisher)
        add_session_routes(a, self.s, self.wallets, self.publisher)
        add_balance_routes(a, self.wallets)
        add_checkout_routes(a, self.s, self.wallets)
        return a

    async def healthz(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok", "ready": self.is_ready()})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain")
