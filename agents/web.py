"""Starts the HTTP API and the views it reads inside the worker."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from agents.audit import audit_view
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
_runner: web.AppRunner | None = None


def is_ready() -> bool:
    """Partitions assigned, no rebalance under way, and the views requests are checked and
    answered from caught up."""
    try:
        assigned = bool(app.consumer.assignment())
    except Exception:
        return False
    needed = [view, wallets, claims] + ([keys] if keys is not None else [])
    caught_up = all(f.caught_up.is_set() for f in needed)
    return assigned and not app.rebalancing and caught_up


@app.task
async def start_api() -> None:
    """Follow the views, then serve the API on settings.api_bind once the app has started."""
    global _runner
    for fold in folds:
        await fold.start()
    api = Api(
        settings,
        view,
        publisher,
        is_ready,
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
    for fold in folds:
        await fold.stop()
