"""Every use of Faust's (and aiokafka's) private API, in one place.

Each was read in the versions below; tests/unit/test_faust_internals.py fails loudly when an
installed version differs or one of these internals has moved, so an upgrade is checked here
rather than discovered as lost messages or a stalled worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CHECKED_WITH = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


def set_fetch_max_wait(ms: int) -> None:
    """Make the worker consumer's fetch wait a setting.

    Faust hard-codes fetch_max_wait_ms=1500 in `AIOKafkaConsumerThread._create_worker_consumer`.
    Kafka answers a fetch as soon as data arrives, but Tansu (the embedded broker) answers only
    after part of that wait, which cost ~0.75 s per hop between agents. The consumer it
    returns keeps the wait in aiokafka's `_fetch_max_wait_ms`, read by its fetcher at start."""
    from faust.transport.drivers import aiokafka as driver

    cls = driver.AIOKafkaConsumerThread
    original = getattr(cls, "_blockhook_original_create", cls._create_worker_consumer)

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = ms
        return consumer

    setattr(cls, "_blockhook_original_create", original)  # noqa: B010
    setattr(cls, "_create_worker_consumer", create)  # noqa: B010


def aiokafka_producer(app: Any) -> Any:
    """The aiokafka producer under Faust's (`Producer._ensure_producer`), for record
    batches: Faust's own send costs several times the producer's work per message."""
    return app.producer._ensure_producer()


async def in_consumer_thread(app: Any, fun: Callable[..., None], *args: Any) -> None:
    """Run fun(aiokafka consumer, *args) in Faust's consumer thread, which owns that consumer
    (`Consumer._thread`, `ConsumerThread._ensure_consumer`, `ServiceThread.call_thread`)."""
    thread = app.consumer._thread
    await thread.call_thread(fun, thread._ensure_consumer(), *args)
