"""Whole topics folded into memory by a group-less consumer, so any worker answers any read.

The API's views (monitors, wallets, the delivery log) are such folds. A writer publishes to
a topic and then waits on the fold for its effect (`wait_for`), which gives
read-your-writes without a database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from core.settings import Settings
from transport.kafkaread import StartEnds

logger = logging.getLogger(__name__)


UNREADABLE: Any = object()  # what `parsed` answers for a value that is not JSON


def parsed(value: bytes | None) -> Any:
    """A record's value as JSON: None for a tombstone, UNREADABLE when it is not JSON (a
    fold skips it: one bad record must not stop a view)."""
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return UNREADABLE


class TopicFold:
    """Follows `TOPICS` (names without the prefix) from their beginning; `apply` folds each
    record. `caught_up` is set once the fold has read every partition up to where it ended
    when the fold started (transport.kafkaread.StartEnds): not on an empty fetch, which a busy
    broker answers before the first records come, and not on a topic that is never idle."""

    TOPICS: tuple[str, ...] = ()
    # A fold nobody waits on for long can poll less often: None takes the worker's setting.
    FETCH_MAX_WAIT_MS: int | None = None

    def __init__(self, s: Settings) -> None:
        self.settings = s
        self.caught_up = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._empty_fetches = 0
        self._ends = StartEnds(())

    def apply(self, topic: str, key: bytes | None, value: bytes | None, ts_ms: int) -> None:
        """Fold one record of `topic` (the full name, with the prefix)."""
        raise NotImplementedError

    async def start(self) -> None:
        """Start following (in the background, retrying while the broker is away)."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop following."""
        if self._task:
            self._task.cancel()
        if self._consumer:
            await self._consumer.stop()

    async def _connect(self) -> AIOKafkaConsumer:
        names = [self.settings.topic(t) for t in self.TOPICS]
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.bootstrap_servers,
                enable_auto_commit=False,
                group_id=None,
                max_partition_fetch_bytes=16 * 1024 * 1024,
                fetch_max_bytes=64 * 1024 * 1024,
                # Writers wait on this fold, and the embedded broker answers a fetch only
                # some way into its wait even when data arrives; but every view polls
                # without end, so a short wait costs the broker CPU all day. The worker's
                # own setting is the balance (about 20 ms of latency at the default 100).
                fetch_max_wait_ms=self.FETCH_MAX_WAIT_MS or self.settings.fetch_max_wait_ms,
            )
            try:
                await consumer.start()
                tps = [
                    TopicPartition(t, p)
                    for t in names
                    for p in sorted(consumer.partitions_for_topic(t) or {0})
                ]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                self._ends = StartEnds(tps)
                return consumer
            except Exception as exc:  # the broker may still be starting
                logger.warning("%s: cannot start (%s); retrying", type(self).__name__, exc)
                await consumer.stop()
                await asyncio.sleep(2)

    async def _run(self) -> None:
        self._consumer = consumer = await self._connect()
        while True:
            try:
                batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
            except Exception as exc:  # keep the API alive through broker hiccups
                logger.warning("%s: %s", type(self).__name__, exc)
                await asyncio.sleep(1)
                continue
            for tp, records in batch.items():
                for r in records:
                    self.apply(tp.topic, r.key, r.value, int(r.timestamp or 0))
            if not batch:
                self._empty_fetches += 1
            if not self.caught_up.is_set() and await self._ends.reached(consumer):
                self.caught_up.set()
            async with self._changed:
                self._changed.notify_all()

    async def sync(self, timeout_s: float) -> bool:
        """Wait until the fold holds everything on the topics when this was called (a fetch
        begun after the call came back empty); False on time-out."""
        n = self._empty_fetches
        return await self.wait_for(lambda: self._empty_fetches >= n + 2, timeout_s)

    async def wait_for(self, pred: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until pred() holds (checked after each batch); False on time-out."""

        async def _wait() -> None:
            async with self._changed:
                await self._changed.wait_for(pred)

        try:
            await asyncio.wait_for(_wait(), timeout_s)
            return True
        except TimeoutError:
            return False
