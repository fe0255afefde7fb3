"""The Faust and aiokafka internals blockhook relies on (faust_app/internals.py) are still
where they were read. A failure here means an upgrade moved one: re-read it before relying on
the new version, then update CHECKED_WITH."""

from __future__ import annotations

import inspect
from importlib.metadata import version

from faust_app.internals import CHECKED_WITH


def test_installed_versions_are_the_ones_the_internals_were_checked_with() -> None:
    for dist, checked in CHECKED_WITH.items():
        assert version(dist) == checked, f"{dist} {version(dist)}: re-check faust_app/internals.py"


def test_the_worker_consumer_factory_and_its_fetch_wait_are_there() -> None:
    from aiokafka import AIOKafkaConsumer
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    create = AIOKafkaConsumerThread.__dict__.get("_create_worker_consumer")
    if create is None:  # patched by faust_app at import: the original is kept beside it
        create = AIOKafkaConsumerThread.__dict__["_blockhook_original_create"]
    assert list(inspect.signature(create).parameters) == ["self", "transport"]
    source = inspect.getsource(AIOKafkaConsumer.__init__)
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in source


def test_the_patched_factory_sets_the_configured_wait() -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    from faust_app import settings

    assert AIOKafkaConsumerThread._create_worker_consumer.__name__ == "create"
    assert settings.fetch_max_wait_ms > 0


def test_the_producer_and_consumer_thread_internals_are_there() -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Producer

    assert callable(Producer._ensure_producer)
    assert callable(AIOKafkaConsumerThread._ensure_consumer)
    assert inspect.iscoroutinefunction(AIOKafkaConsumerThread.call_thread)


def test_an_app_consumer_carries_its_thread() -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    from faust_app import app

    assert isinstance(app.consumer._thread, AIOKafkaConsumerThread)
