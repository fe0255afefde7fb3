"""The HTTP API (/v1): writes publish to topics, reads come from the monitors view."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from api.deliveries import add_delivery_routes
from api.wallets import add_wallet_routes, page_args
from core import metrics
from core.errors import ApiError
from core.publish import Message, Publisher
from core.settings import Settings
from core.timefmt import iso_utc
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
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer (orjson)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    """The contract's error shape."""
    return json_response({"error": {"code": code, "message": message, "field": field}}, status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes the contract's error shape; nothing a client sends crashes us."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.field)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "body_too_large", "request body is too large")
    except web.HTTPNotFound:
        return error_response(404, "not_found", f"no route for {request.path}")
    except web.HTTPMethodNotAllowed:
        return error_response(405, "method_not_allowed", f"{request.method} not allowed here")
    except web.HTTPException:
        raise
    except Exception:
        logger.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error")


def _validation_error(exc: ValidationError) -> ApiError:
    err = exc.errors()[0]
    field = ".".join(str(x) for x in err.get("loc", ())) or None
    msg = str(err.get("msg", "invalid value"))
    return ApiError(422, "invalid_field" if field else "invalid_body", msg, field)


async def read_json(request: web.Request, model: type[BaseModel]) -> Any:
    """Parse and validate a JSON body into model, or raise a 4xx ApiError."""
    raw = await request.read()
    if not raw:
        raise ApiError(400, "invalid_json", "request body is empty")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from exc


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


class Api:
    """Route handlers bound to settings, the monitors view and a topic publisher."""

    def __init__(
        self,
        s: Settings,
        view: MonitorsView,
        publisher: Publisher,
        is_ready: Callable[[], bool],
    ) -> None:
        self.s = s
        self.view = view
        self.publisher = publisher
        self.is_ready = is_ready

    def app(self) -> web.Application:
        """The aiohttp application."""
        a = web.Application(
            client_max_size=self.s.api_max_body_bytes, middlewares=[errors_middleware]
        )
        a.router.add_get("/healthz", self.healthz)
        a.router.add_get("/metrics", self.metrics)
        a.router.add_post("/v1/monitors", self.create_monitor)
        a.router.add_get("/v1/monitors", self.list_monitors)
        a.router.add_get("/v1/monitors/{id}", self.get_monitor)
        a.router.add_patch("/v1/monitors/{id}", self.patch_monitor)
        a.router.add_delete("/v1/monitors/{id}", self.delete_monitor)
        add_delivery_routes(a, self.s, lambda: self.view.monitors, self.publisher)
        add_wallet_routes(a, self.s, self.view, self.publisher)
        return a

    async def healthz(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok", "ready": self.is_ready()})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain")

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

    async def create_monitor(self, request: web.Request) -> web.Response:
        body: MonitorCreate = await read_json(request, MonitorCreate)
        monitor_id = body.id or new_monitor_id()
        if monitor_id in self.view.monitors:
            raise ApiError(409, "already_exists", f"monitor {monitor_id} exists", "id")
        monitor = self._finish(body, monitor_id)
        if body.webhook is not None:
            await self._check_webhook(body.webhook.url)
        self._check_handler(monitor.get("handler"))
        await self._publish(monitor_id, monitor)
        return json_response(monitor, 201)

    def _get(self, request: web.Request) -> dict[str, Any]:
        monitor_id = request.match_info["id"]
        m = self.view.monitors.get(monitor_id)
        if m is None:
            raise ApiError(404, "not_found", f"no monitor {monitor_id}", "id")
        return m

    async def get_monitor(self, request: web.Request) -> web.Response:
        return json_response(self._get(request))

    async def list_monitors(self, request: web.Request) -> web.Response:
        limit, cursor = page_args(request)
        ids = sorted(i for i in self.view.monitors if i > cursor)
        page = ids[:limit]
        next_cursor = page[-1] if len(ids) > limit else None
        return json_response(
            {"items": [self.view.monitors[i] for i in page], "cursor": next_cursor}
        )

    async def patch_monitor(self, request: web.Request) -> web.Response:
        current = self._get(request)
        patch: MonitorPatch = await read_json(request, MonitorPatch)
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
            raise _validation_error(exc) from exc
        monitor = self._finish(body, current["id"])
        if patch.webhook is not None:
            await self._check_webhook(patch.webhook.url)
        if "handler" in fields:
            self._check_handler(monitor.get("handler"))
        await self._publish(current["id"], monitor)
        return json_response(monitor)

    async def delete_monitor(self, request: web.Request) -> web.Response:
        current = self._get(request)
        await self._publish(current["id"], None)
        return web.Response(status=204)
