"""The API's view of the monitors topic: every monitor, folded by a group-less consumer.

Every worker keeps the whole view, so any worker answers any read. It also follows the
applied topic, so a write can wait until its watch updates are in place.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from blockhook.settings import Settings

logger = logging.getLogger(__name__)


class MonitorsView:
    """In-memory fold of the monitors and monitors.applied topics."""

    def __init__(self, s: Settings) -> None:
        self.settings = s
        self.monitors: dict[str, dict[str, Any]] = {}
        self.applied: dict[str, str | None] = {}
        self.caught_up = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        """Start following the topics from their beginning."""
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            enable_auto_commit=False,
            group_id=None,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        await self._consumer.start()
        names = [self.settings.topic("monitors"), self.settings.topic("monitors.applied")]
        tps = [
            TopicPartition(t, p)
            for t in names
            for p in sorted(self._consumer.partitions_for_topic(t) or {0})
        ]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._run(tps))

    async def stop(self) -> None:
        """Stop following."""
        if self._task:
            self._task.cancel()
        if self._consumer:
            await self._consumer.stop()

    async def _run(self, tps: list[TopicPartition]) -> None:
        assert self._consumer is not None
        monitors_topic = self.settings.topic("monitors")
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200, max_records=10_000)
            except Exception as exc:  # keep the API alive through broker hiccups
                logger.warning("monitors view: %s", exc)
                await asyncio.sleep(1)
                continue
            for tp, records in batch.items():
                for r in records:
                    key = r.key.decode(errors="replace") if r.key else ""
                    try:
                        value = orjson.loads(r.value) if r.value is not None else None
                    except orjson.JSONDecodeError:
                        continue
                    if tp.topic == monitors_topic:
                        if value is None:
                            self.monitors.pop(key, None)
                        elif isinstance(value, dict):
                            self.monitors[key] = value
                    elif isinstance(value, dict):
                        self.applied[key] = value.get("digest")
            if batch:
                async with self._changed:
                    self._changed.notify_all()
            if not self.caught_up.is_set() and not batch:
                self.caught_up.set()

    async def wait_applied(self, monitor_id: str, digest: str | None, timeout_s: float) -> bool:
        """Wait until the worker has put this version's watch updates in place."""

        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.applied.get(monitor_id, "") == digest)

        try:
            await asyncio.wait_for(_wait(), timeout_s)
            return True
        except TimeoutError:
            return False
