"""/v1/deliveries: the delivery log (list, read) from its view, and redelivery."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from api.http import found, json_response
from api.routes import PAGE, Query, Route, add
from core.errors import ApiError
from core.publish import Message, Publisher
from schemas.answers import DeliveryList
from schemas.delivery import Delivery
from streams.deliveryjob import log_record, redelivery_job
from views.deliveries import DeliveriesView
from views.monitors import MonitorsView


def _public(rec: dict[str, Any], with_event: bool) -> dict[str, Any]:
    return rec if with_event else {k: v for k, v in rec.items() if k != "event"}


async def redeliver_one(
    view: DeliveriesView, monitors: MonitorsView, publisher: Publisher, original: dict[str, Any]
) -> dict[str, Any]:
    """Send a delivery again now (the API's and the console's way): a new delivery whose
    `redelivery_of` is the original; its first log record."""
    monitor = monitors.monitors.get(str(original.get("monitor_id")))
    try:
        job = redelivery_job(original, monitor)
    except ValueError as exc:
        raise ApiError(409, "nowhere_to_deliver", str(exc), "monitor_id") from exc
    rec = log_record(job, "pending", time.time())
    await publisher.publish(
        [
            Message("deliveries", job["monitor_id"].encode(), orjson.dumps(job)),
            Message("deliveries.log", job["id"].encode(), orjson.dumps(rec)),
        ]
    )
    view.apply_record(rec)  # readable here at once; the topic brings it to the other workers
    return rec


def add_delivery_routes(
    a: web.Application, view: DeliveriesView, monitors: MonitorsView, publisher: Publisher
) -> None:
    """Register /v1/deliveries (list, read, redeliver)."""

    def _get(request: web.Request) -> dict[str, Any]:
        did = request.match_info["id"]
        return found(view, did, f"no delivery {did}", "id")

    async def list_deliveries(request: web.Request) -> web.Response:
        q = request.query
        try:
            limit = int(q.get("limit", "100"))
            cursor = int(q["cursor"]) if q.get("cursor") else None
        except ValueError:
            raise ApiError(400, "invalid_query", "limit and cursor must be integers") from None
        if not 1 <= limit <= 1000:
            raise ApiError(400, "invalid_query", "limit must be between 1 and 1000", "limit")
        status = q.get("status")
        if status not in (None, "pending", "delivered", "failed"):
            raise ApiError(400, "invalid_query", "status: pending, delivered or failed", "status")
        items, nxt = view.page(q.get("monitor_id"), status, limit, cursor)
        body = {"items": [_public(r, False) for r in items], "cursor": str(nxt) if nxt else None}
        return json_response(body)

    async def get_delivery(request: web.Request) -> web.Response:
        return json_response(_get(request))

    async def redeliver(request: web.Request) -> web.Response:
        rec = await redeliver_one(view, monitors, publisher, _get(request))
        return json_response(rec, 202)

    listing = (
        Query("monitor_id", "only this monitor's deliveries"),
        Query(
            "status",
            "pending, delivered or failed",
            {"type": "string", "enum": ["pending", "delivered", "failed"]},
        ),
        *PAGE,
    )
    add(
        a,
        Route(
            "GET",
            "/v1/deliveries",
            list_deliveries,
            "the delivery log",
            "read",
            answer=DeliveryList,
            query=listing,
        ),
    )
    add(
        a,
        Route(
            "GET",
            "/v1/deliveries/{id}",
            get_delivery,
            "one delivery with its attempts",
            "read",
            answer=Delivery,
        ),
    )
    add(
        a,
        Route(
            "POST",
            "/v1/deliveries/{id}/redeliver",
            redeliver,
            "deliver it again now",
            "operate",
            "delivery.redeliver",
            answer=Delivery,
            status=202,
        ),
    )
