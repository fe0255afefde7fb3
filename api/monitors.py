"""/v1/monitors: writes publish to the monitors topic and wait until a worker applied them."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from pydantic import ValidationError

from api.http import found, json_response, page_args, page_of, read_json, validation_error
from api.monitorlists import APPLY_TIMEOUT_S, ListWriter
from api.routes import PAGE, Route, add
from core.errors import ApiError
from core.publish import Message, Publisher
from core.settings import Settings
from core.timefmt import iso_utc
from schemas.answers import AddressList, MonitorAnswer, MonitorList
from schemas.monitor import (
    Monitor,
    MonitorCreate,
    MonitorPatch,
    MonitorRejected,
    finalize_monitor,
    new_monitor_id,
)
from streams.monitorlist import CHUNK, ChunkedList, Chunks, edit_list
from streams.watchlist import monitor_digest
from transport.handlers import handler_refusal
from transport.webhooks import check_url_host
from views.monitors import MonitorsView

logger = logging.getLogger(__name__)


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
    _locks: weakref.WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )

    def __post_init__(self) -> None:
        self.lists = ListWriter(self.view, self.publisher)

    @asynccontextmanager
    async def _one_at_a_time(self, monitor_id: str) -> AsyncIterator[None]:
        """A monitor's writes through this worker, one after another (a list edit plans
        from the view's copy, which the edit before it changes)."""
        lock = self._locks.get(monitor_id)
        if lock is None:
            lock = self._locks[monitor_id] = asyncio.Lock()
        async with lock:
            yield

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
        """The monitor's record as stored (its own list, not its chunks), or a 404."""
        monitor_id = request.match_info["id"]
        return found(self.view.monitors, monitor_id, f"no monitor {monitor_id}", "id")

    async def create_monitor(self, request: web.Request) -> web.Response:
        body: MonitorCreate = await read_json(request, MonitorCreate)
        return json_response(await self.create(body), 201)

    async def create(self, body: MonitorCreate) -> dict[str, Any]:
        """Create a monitor (the API's and the console's way); the monitor as answered.
        A list longer than CHUNK keeps its first CHUNK addresses in the record and the rest
        in chunks, published (and applied) before the record makes the monitor live."""
        monitor_id = body.id or new_monitor_id()
        async with self._one_at_a_time(monitor_id):
            return await self._create(body, monitor_id)

    async def _create(self, body: MonitorCreate, monitor_id: str) -> dict[str, Any]:
        if monitor_id in self.view.monitors:
            raise ApiError(409, "already_exists", f"monitor {monitor_id} exists", "id")
        monitor = self._finish(body, monitor_id)
        if body.webhook is not None:
            await self._check_webhook(body.webhook.url)
        self._check_handler(monitor.get("handler"))
        rest = monitor["addresses"][CHUNK:]
        monitor["addresses"] = monitor["addresses"][:CHUNK]
        await self.lists.edit(
            monitor_id, monitor["chain"], lambda held, _gap: held.plan_replace(rest)
        )
        await self._publish(monitor_id, monitor)
        return self.view.answer(monitor)

    async def get_monitor(self, request: web.Request) -> web.Response:
        return json_response(self.view.answer(self._get(request)))

    async def list_monitors(self, request: web.Request) -> web.Response:
        limit, cursor = page_args(request)
        page, next_cursor = page_of(sorted(i for i in self.view.monitors if i > cursor), limit)
        return json_response(
            {
                "items": [self.view.answer(self.view.monitors[i]) for i in page],
                "cursor": next_cursor,
            }
        )

    async def list_addresses(self, request: web.Request) -> web.Response:
        """A monitor's whole list a page at a time, in address order; the cursor is the last
        address of the page."""
        monitor = self._get(request)
        limit, cursor = page_args(request)
        page = self.view.addresses_page(monitor["id"], cursor.lower(), limit + 1)
        more = len(page) > limit
        return json_response({"items": page[:limit], "cursor": page[limit - 1] if more else None})

    async def patch_monitor(self, request: web.Request) -> web.Response:
        current = self._get(request)
        patch: MonitorPatch = await read_json(request, MonitorPatch)
        return json_response(await self.patch(current, patch))

    async def patch(self, current: dict[str, Any], patch: MonitorPatch) -> dict[str, Any]:
        """Change a monitor (the API's and the console's way); the monitor as answered.
        `current` is the stored record (read again once earlier writes of this monitor
        through this worker are done). Lists edits go to the record's own list while the
        monitor has no chunks and it stays within CHUNK; otherwise to chunks, which are
        published (and applied) before the record."""
        async with self._one_at_a_time(current["id"]):
            latest = self.view.monitors.get(current["id"])
            if latest is None:
                raise ApiError(404, "not_found", f"no monitor {current['id']}", "id")
            return await self._patch(latest, patch)

    async def _patch(self, current: dict[str, Any], patch: MonitorPatch) -> dict[str, Any]:
        fields = patch.model_dump(mode="json", exclude_unset=True)
        add = fields.pop("add_addresses", []) or []
        remove = fields.pop("remove_addresses", []) or []
        merged = {**current, **fields}
        if fields.get("webhook") and not fields["webhook"].get("secret") and current.get("webhook"):
            merged["webhook"]["secret"] = current["webhook"].get("secret")
        merged["webhook"] = rotate_secret(current.get("webhook"), merged.get("webhook"), self.s)
        listed = list(merged.get("addresses") or [])
        replace = "addresses" in fields

        def edit(held: ChunkedList, gap: int) -> Chunks:
            merged["addresses"], plan = edit_list(listed, held, replace, add, remove, gap)
            return plan

        edit(self.view.lists.get(current["id"]) or ChunkedList(), 0)  # checked before writing
        try:
            body = Monitor.model_validate(merged)
        except ValidationError as exc:
            raise validation_error(exc) from exc
        monitor = self._finish(body, current["id"])
        if patch.webhook is not None:
            await self._check_webhook(patch.webhook.url)
        if "handler" in fields:
            self._check_handler(monitor.get("handler"))
        await self.lists.edit(current["id"], monitor["chain"], edit)
        monitor["addresses"] = merged["addresses"]
        await self._publish(current["id"], monitor)
        return self.view.answer(monitor)

    async def delete_monitor(self, request: web.Request) -> web.Response:
        """The record's tombstone first (nothing matches from then on), then its chunks'."""
        current = self._get(request)
        async with self._one_at_a_time(current["id"]):
            await self._publish(current["id"], None)
            held = self.view.lists.get(current["id"])
            if held is not None:
                plan = held.plan_drop()
                await self.lists.publish(current["id"], current["chain"], plan, held)
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
            MonitorAnswer,
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
    add(a, Route("GET", one, m.get_monitor, "read a monitor", "read", answer=MonitorAnswer))
    add(
        a,
        Route(
            "GET",
            one + "/addresses",
            m.list_addresses,
            "list a monitor's addresses, in address order",
            "read",
            answer=AddressList,
            query=PAGE,
        ),
    )
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
            MonitorAnswer,
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
