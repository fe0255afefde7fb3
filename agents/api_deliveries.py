"""The delivery log in the API: a fold of the deliveries.log topic in every worker, and the
/v1/deliveries routes (list, read, redeliver)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition

from blockhook.errors import ApiError
from blockhook.settings import Settings
from streams.deliveryjob import log_record, redelivery_job

logger = logging.getLogger(__name__)

# (topic name, key, value) messages, sent and acknowledged.
Publish = Callable[[list[tuple[str, bytes, bytes]]], Awaitable[None]]


class DeliveriesView:
    """In-memory fold of deliveries.log: the latest record of each delivery, oldest first.

    Bounded: past `delivery.log_max` deliveries the oldest are forgotten (the topic keeps
    them)."""

    def __init__(self, s: Settings) -> None:
        self.settings = s
        self.max = s.delivery.log_max
        self.records: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.by_monitor: dict[str, OrderedDict[str, None]] = {}
        self.seq: dict[str, int] = {}
        self._n = 0
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    def apply(self, rec: dict[str, Any]) -> None:
        """Fold one record in (the latest record of a delivery replaces the earlier ones)."""
        did = str(rec.get("id", ""))
        if not did:
            return
        if did not in self.records:
            self._n += 1
            self.seq[did] = self._n
            self.by_monitor.setdefault(str(rec.get("monitor_id")), OrderedDict())[did] = None
        self.records[did] = rec
        while len(self.records) > self.max:
            old, old_rec = self.records.popitem(last=False)
            self.seq.pop(old, None)
            ids = self.by_monitor.get(str(old_rec.get("monitor_id")))
            if ids is not None:
                ids.pop(old, None)
                if not ids:
                    del self.by_monitor[str(old_rec.get("monitor_id"))]

    def page(
        self, monitor_id: str | None, status: str | None, limit: int, cursor: int | None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first; the cursor is the position of the last delivery returned."""
        ids = self.by_monitor.get(monitor_id, OrderedDict()) if monitor_id else self.records
        out: list[dict[str, Any]] = []
        for did in reversed(ids):
            if cursor is not None and self.seq[did] >= cursor:
                continue
            rec = self.records[did]
            if status and rec.get("status") != status:
                continue
            if len(out) == limit:
                return out, self.seq[out[-1]["id"]]
            out.append(rec)
        return out, None

    async def start(self) -> None:
        """Follow the topic from its beginning (retrying while the broker is away)."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self._consumer:
            await self._consumer.stop()

    async def _run(self) -> None:
        name = self.settings.topic("deliveries.log")
        while self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.bootstrap_servers,
                enable_auto_commit=False,
                group_id=None,
                max_partition_fetch_bytes=16 * 1024 * 1024,
            )
            try:
                await consumer.start()
                tps = [
                    TopicPartition(name, p)
                    for p in sorted(consumer.partitions_for_topic(name) or {0})
                ]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                self._consumer = consumer
            except Exception as exc:
                logger.warning("deliveries view: cannot start (%s); retrying", exc)
                await consumer.stop()
                await asyncio.sleep(2)
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200, max_records=10_000)
            except Exception as exc:  # keep the API alive through broker hiccups
                logger.warning("deliveries view: %s", exc)
                await asyncio.sleep(1)
                continue
            for records in batch.values():
                for r in records:
                    try:
                        value = orjson.loads(r.value) if r.value is not None else None
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(value, dict):
                        self.apply(value)


def _public(rec: dict[str, Any], with_event: bool) -> dict[str, Any]:
    return rec if with_event else {k: v for k, v in rec.items() if k != "event"}


def add_delivery_routes(
    a: web.Application,
    s: Settings,
    monitors: Callable[[], dict[str, dict[str, Any]]],
    publish: Publish | None = None,
    view: DeliveriesView | None = None,
) -> DeliveriesView:
    """Register /v1/deliveries on the API; the view follows the log while the app runs."""
    view = view or DeliveriesView(s)

    async def _publish(msgs: list[tuple[str, bytes, bytes]]) -> None:
        if publish is not None:
            await publish(msgs)
            return
        from streams.topics import deliveries_topic, delivery_log_topic  # the worker's app

        topics = {"deliveries": deliveries_topic, "deliveries.log": delivery_log_topic}
        futures = [await topics[t].send(key=k, value=v) for t, k, v in msgs]
        for f in futures:
            await f

    async def on_startup(app: web.Application) -> None:
        await view.start()

    async def on_cleanup(app: web.Application) -> None:
        await view.stop()

    def _get(request: web.Request) -> dict[str, Any]:
        did = request.match_info["id"]
        rec = view.records.get(did)
        if rec is None:
            raise ApiError(404, "not_found", f"no delivery {did}", "id")
        return rec

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
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def get_delivery(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(_get(request)), content_type="application/json")

    async def redeliver(request: web.Request) -> web.Response:
        original = _get(request)
        monitor = monitors().get(str(original.get("monitor_id")))
        try:
            job = redelivery_job(original, monitor)
        except ValueError as exc:
            raise ApiError(409, "nowhere_to_deliver", str(exc), "monitor_id") from exc
        rec = log_record(job, "pending", time.time())
        await _publish(
            [
                ("deliveries", job["monitor_id"].encode(), orjson.dumps(job)),
                ("deliveries.log", job["id"].encode(), orjson.dumps(rec)),
            ]
        )
        view.apply(rec)  # readable here at once; the topic brings it to the other workers
        return web.Response(body=orjson.dumps(rec), status=202, content_type="application/json")

    a.on_startup.append(on_startup)
    a.on_cleanup.append(on_cleanup)
    a.router.add_get("/v1/deliveries", list_deliveries)
    a.router.add_get("/v1/deliveries/{id}", get_delivery)
    a.router.add_post("/v1/deliveries/{id}/redeliver", redeliver)
    return view
