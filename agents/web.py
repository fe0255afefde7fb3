"""Starts the HTTP API, the views it reads and the worker's health inside the worker.

They start with the worker process, before Faust joins the group and recovers its tables, so
`/healthz`, `/readyz` and `/metrics` answer from the first seconds (every other request gets
503 `not_ready` until the tables are recovered: agents/health.py)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from agents.audit import audit_view
from agents.health import Health
from api.server import Api
from console.app import mount
from console.context import Console
from faust_app import app, publisher, settings
from streams.secretbox import SecretBox, box_from_settings
from views.activity import ActivityView
from views.claims import ClaimsView
from views.deliveries import DeliveriesView
from views.keys import KeysView
from views.monitors import MonitorsView
from views.operators import OperatorsView
from views.topicfold import TopicFold
from views.wallets import WalletsView
from views.withdrawals import WithdrawalsView

logger = logging.getLogger(__name__)
SHUTDOWN_TIMEOUT_S = 2.0

view = MonitorsView(settings)
wallets = WalletsView(settings)
deliveries = DeliveriesView(settings)
claims = ClaimsView(settings)
withdrawals = WithdrawalsView(settings)
operators = OperatorsView(settings)
activity = ActivityView(settings)
# Access control needs the master key; blockhook/worker.py refuses to start without one
# unless access control is off (which it allows on loopback only).
box: SecretBox | None = box_from_settings(settings.auth) if settings.auth.enabled else None
keys = KeysView(settings, box) if box is not None else None
folds: list[TopicFold] = [
    view,
    wallets,
    deliveries,
    claims,
    audit_view,
    withdrawals,
    operators,
    activity,
]
if keys is not None:
    folds.append(keys)
# The views requests are checked and answered from: the API waits for them.
needed: dict[str, TopicFold] = {"monitors": view, "wallets": wallets, "claims": claims}
if keys is not None:
    needed["keys"] = keys
health = Health(needed)
_runner: web.AppRunner | None = None


async def start_api() -> None:
    """Follow the views, watch the worker's health, and serve the API on settings.api_bind
    (called by the worker as it starts; the views catch up in the background)."""
    global _runner
    for fold in folds:
        await fold.start()
    health.start()
    api = Api(
        settings,
        view,
        publisher,
        health,
        wallets=wallets,
        deliveries=deliveries,
        keys=keys,
        claims=claims,
        audit=audit_view,
        withdrawals=withdrawals,
        box=box,
    )
    a = api.app()
    console = Console(
        settings,
        publisher,
        box,
        view,
        wallets,
        deliveries,
        withdrawals,
        audit_view,
        operators,
        keys=keys,
        activity=activity,
    )
    mount(a, console)
    # Stopping waits at most this long for requests in flight: a signer's long poll (up to
    # 30 s) must not hold up a restart; the signer asks again when its connection drops.
    _runner = web.AppRunner(a, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await _runner.setup()
    host, port = settings.api_host_port
    await web.TCPSite(_runner, host, port).start()
    logger.info("HTTP API on http://%s:%d", host, port)


@app.on_before_shutdown.connect  # type: ignore[arg-type]
async def stop_api(sender: Any, *args: Any, **kwargs: Any) -> None:
    """Stop serving before the app stops, then stop following the views."""
    if _runner is not None:
        await _runner.cleanup()
    await health.stop()
    for fold in folds:
        await fold.stop()
