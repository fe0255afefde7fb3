"""/v1/monitors: writes publish to the monitors topic and wait until a worker applied them."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from pydantic import ValidationError

from api.http import found, json_response, page_args, page_of, read_json, validation_error
from api.routes import PAGE, Route, add
from core.errors import ApiError
from core.publish import Message, Publisher
from core.settings import Settings
from core.timefmt import iso_utc
from schemas.answers import MonitorList
from schemas.monitor import (
    Monitor,
    MonitorCreate,
    MonitorPatch,
    MonitorRejected,
    finalize_monitor,
    new_monitor_id,
)
from streams.watchlist import monitor_digest
from transport.handlers import handler_refusal
from transport.webhooks import check_url_host
from views.monitors import MonitorsView

logger = logging.getLogger(__name__)

APPLY_TIMEOUT_S = 30.0


def rotate_secret(
    old: dict[str, Any] | None, new: dict[str, Any] | None, s: Settings
) -> dict[str, Any] | None:
    """Secret rotation: when a PATCH changes the secret, the old one keeps signing beside
    the new one for delivery.secret_rotation_s; otherwise the rotation state carries over."""
    if not new or not old:
        return new
    new = dict(new)
    if new.get("secret") and old.get("secret") and new["secret"] != old["secret"]:
        if "previous_secret" not in new or new.get("previous_secret") is None:
            until = time.time() + s.delivery.secret_rotation_s
            new["previous_secret"] = old["secret"]
            new["previous_secret_expires_at"] = iso_utc(until)
    else:
        for k in ("previous_secret", "previous_secret_expires_at"):
            if new.get(k) is None and old.get(k) is not None:
                new[k] = old[k]
    return new


@dataclass
class MonitorsApi:
    """The monitor handlers, bound to settings, the monitors view and a topic publisher."""

    s: Settings
    view: MonitorsView
    publisher: Publisher

    async def _check_webhook(self, url: str) -> None:
        host = urlsplit(url).hostname or ""
        why = await check_url_host(
            host, self.s.allow_loopback_webhooks, self.s.allow_private_webhooks
        )
        if why is not None:
            raise ApiError(422, "webhook_url_forbidden", why, "webhook.url")

    def _check_handler(self, handler: dict[str, Any] | None) -> None:
        """Python and command handlers run on the worker: only those the operator listed."""
        if handler:
            d = self.s.delivery
            why = handler_refusal(handler, d.python_handlers, d.command_handlers)
            if why is not None:
                raise ApiError(422, "handler_forbidden", why, "handler")

    async def _publish(self, monitor_id: str, monitor: dict[str, Any] | None) -> None:
        value = orjson.dumps(monitor) if monitor is not None else None
        await self.publisher.publish([Message("monitors", monitor_id.encode(), value)])
        if not await self.view.wait_applied(monitor_id, monitor_digest(monitor), APPLY_TIMEOUT_S):
            logger.warning("monitor %s stored but not yet applied by a worker", monitor_id)

    def _finish(self, body: MonitorCreate | Monitor, monitor_id: str) -> dict[str, Any]:
        data = {**body.model_dump(mode="json"), "id": monitor_id}
        known = ", ".join(c.name for c in self.s.chains) or "none"
        try:
            return finalize_monitor(data, self.s.chain(body.chain), known, make_secret=True)
        except MonitorRejected as exc:
            raise ApiError(422, exc.code, exc.message, exc.field) from exc

    def _get(self, request: web.Request) -> dict[str, Any]:
        monitor_id = request.match_info["id"]
        return found(self.view.monitors, monitor_id, f"no monitor {monitor_id}", "id")

    async def create_monitor(self, request: web.Request) -> web.Response:
        body: MonitorCreate = await read_json(request, MonitorCreate)
        return json_response(await self.create(body), 201)

    async def create(self, body: MonitorCreate) -> dict[str, Any]:
        """Create a monitor (the API's and the console's way); the stored monitor."""
        monitor_id = body.id or new_monitor_id()
        if monitor_id in self.view.monitors:
            raise ApiError(409, "already_exists", f"monitor {monitor_id} exists", "id")
        monitor = self._finish(body, monitor_id)
        if body.webhook is not None:
            await self._check_webhook(body.webhook.url)
        self._check_handler(monitor.get("handler"))
        await self._publish(monitor_id, monitor)
        return monitor

    async def get_monitor(self, request: web.Request) -> web.Response:
        return json_response(self._get(request))

    async def list_monitors(self, request: web.Request) -> web.Response:
        limit, cursor = page_args(request)
        page, next_cursor = page_of(sorted(i for i in self.view.monitors if i > cursor), limit)
        return json_response(
            {"items": [self.view.monitors[i] for i in page], "cursor": next_cursor}
        )

    async def patch_monitor(self, request: web.Request) -> web.Response:
        current = self._get(request)
        patch: MonitorPatch = await read_json(request, MonitorPatch)
        return json_response(await self.patch(current, patch))

    async def patch(self, current: dict[str, Any], patch: MonitorPatch) -> dict[str, Any]:
        """Change a monitor (the API's and the console's way); the stored monitor."""
        fields = patch.model_dump(mode="json", exclude_unset=True)
        add = fields.pop("add_addresses", []) or []
        remove = set(fields.pop("remove_addresses", []) or [])
        merged = {**current, **fields}
        if fields.get("webhook") and not fields["webhook"].get("secret") and current.get("webhook"):
            merged["webhook"]["secret"] = current["webhook"].get("secret")
        merged["webhook"] = rotate_secret(current.get("webhook"), merged.get("webhook"), self.s)
        addresses = [a for a in merged.get("addresses", []) if a not in remove]
        known = set(addresses)
        addresses += [a for a in add if a not in known and not known.add(a)]  # type: ignore[func-returns-value]
        merged["addresses"] = addresses
        try:
            body = Monitor.model_validate(merged)
        except ValidationError as exc:
            raise validation_error(exc) from exc
        monitor = self._finish(body, current["id"])
        if patch.webhook is not None:
            await self._check_webhook(patch.webhook.url)
        if "handler" in fields:
            self._check_handler(monitor.get("handler"))
        await self._publish(current["id"], monitor)
        return monitor

    async def delete_monitor(self, request: web.Request) -> web.Response:
        current = self._get(request)
        await self._publish(current["id"], None)
        return web.Response(status=204)


def add_monitor_routes(
    a: web.Application, s: Settings, view: MonitorsView, publisher: Publisher
) -> None:
    """Register /v1/monitors (create, list, read, change, delete)."""
    m = MonitorsApi(s, view, publisher)
    one = "/v1/monitors/{id}"
    add(
        a,
        Route(
            "POST",
            "/v1/monitors",
            m.create_monitor,
            "create a monitor",
            "operate",
            "monitor.create",
            MonitorCreate,
            Monitor,
            201,
        ),
    )
    add(
        a,
        Route(
            "GET",
            "/v1/monitors",
            m.list_monitors,
            "list monitors",
            "read",
            answer=MonitorList,
            query=PAGE,
        ),
    )
    add(a, Route("GET", one, m.get_monitor, "read a monitor", "read", answer=Monitor))
    add(
        a,
        Route(
            "PATCH",
            one,
            m.patch_monitor,
            "change a monitor",
            "operate",
            "monitor.update",
            MonitorPatch,
            Monitor,
        ),
    )
    add(
        a,
        Route(
            "DELETE",
            one,
            m.delete_monitor,
            "stop a monitor",
            "operate",
            "monitor.delete",
            status=204,
        ),
    )
