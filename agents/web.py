"""Starts the HTTP API and the views it reads inside the worker."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from api.server import Api
from faust_app import app, publisher, settings
from views.deliveries import DeliveriesView
from views.monitors import MonitorsView
from views.wallets import WalletsView

logger = logging.getLogger(__name__)

view = MonitorsView(settings)
wallets = WalletsView(settings)
deliveries = DeliveriesView(settings)
_runner: web.AppRunner | None = None


def is_ready() -> bool:
    """Partitions assigned, no rebalance under way, and the monitors and wallets views
    caught up."""
    try:
        assigned = bool(app.consumer.assignment())
    except Exception:
        return False
    caught_up = view.caught_up.is_set() and wallets.caught_up.is_set()
    return assigned and not app.rebalancing and caught_up


@app.task
async def start_api() -> None:
    """Follow the views, then serve the API on settings.api_bind once the app has started."""
    global _runner
    await view.start()
    await wallets.start()
    await deliveries.start()
    api = Api(settings, view, publisher, is_ready, wallets=wallets, deliveries=deliveries)
    _runner = web.AppRunner(api.app(), access_log=None)
    await _runner.setup()
    host, port = settings.api_host_port
    await web.TCPSite(_runner, host, port).start()
    logger.info("HTTP API on http://%s:%d", host, port)


@app.on_before_shutdown.connect  # type: ignore[arg-type]
async def stop_api(sender: Any, *args: Any, **kwargs: Any) -> None:
    """Stop serving before the app stops, then stop following the views."""
    if _runner is not None:
        await _runner.cleanup()
    await view.stop()
    await wallets.stop()
    await deliveries.stop()
