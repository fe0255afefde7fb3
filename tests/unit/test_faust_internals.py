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


def test_the_recovery_internals_the_patch_relies_on_are_there() -> None:
    from faust.stores.rocksdb import Store
    from faust.tables.recovery import Recovery

    from faust_app import app  # noqa: F401  (importing it applies the patch)

    for name in ("_build_highwaters", "_build_offsets"):
        original = Recovery.__dict__[f"_blockhook_{name.removeprefix('_')}"]
        assert list(inspect.signature(original).parameters) == [
            "self",
            "consumer",
            "tps",
            "destination",
            "title",
        ]
        assert Recovery.__dict__[name].__name__ in ("build_highwaters", "build_offsets")
    source = inspect.getsource(Recovery.__dict__["_restart_recovery"].fun)  # a ServiceTask
    # The order the patch counts on: highwaters, then offsets, then the consistency check.
    assert source.index("_build_highwaters") < source.index("_build_offsets")
    assert source.index("_build_offsets") < source.index("ConsistencyError")
    assert "signal_recovery_start" in source and "RebalanceAgain" in source
    for name in ("_set_recovery_started", "_set_recovery_ended", "active_remaining_total"):
        assert callable(getattr(Recovery, name))
    assert "self._dbs" in inspect.getsource(Store._db_for_partition)
    assert callable(Store.partition_path)
    assert "_key_index" in inspect.getsource(Store.__init__)


def test_the_consumer_internals_health_reads_are_there() -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.consumer.group_coordinator import GroupCoordinator
    from faust.transport.consumer import Consumer

    assert "self._read_offset" in inspect.getsource(Consumer.__init__)
    assert "self.member_id" in inspect.getsource(GroupCoordinator.__init__)
    assert callable(AIOKafkaConsumer.highwater)


def test_the_fetch_loop_rules_the_fetch_order_guard_models_are_there() -> None:
    """test_fetch_order models `_drain_messages`: below the read offset is dropped, a jump
    forward is a gap; the stream acknowledges messages of an older generation unprocessed."""
    from faust.streams import Stream
    from faust.transport.consumer import Consumer, ThreadDelegateConsumer

    from faust_app import app  # noqa: F401  (importing it applies the patches)

    drain = inspect.getsource(Consumer._drain_messages)
    assert "r_offset is None or offset >= r_offset" in drain
    assert "_add_gap(tp, r_offset + 1, offset)" in drain
    assert "getmany(timeout=1.0)" in drain
    assert "message.generation_id != self.app.consumer_generation_id" in inspect.getsource(
        Stream._py_aiter
    )
    for cls, name in (
        (Consumer, "getmany"),
        (Consumer, "seek"),
        (Consumer, "on_partitions_revoked"),
        (Consumer, "ack"),
        (ThreadDelegateConsumer, "seek_to_committed"),
        (ThreadDelegateConsumer, "seek_wait"),
    ):
        assert cls.__dict__[name].__name__ == name  # the patch, with the original beside it
    assert list(inspect.signature(Consumer._blockhook_original_getmany).parameters) == [
        "self",
        "timeout",
    ]
    assert "self._read_offset[ensure_TP(partition)]" in inspect.getsource(
        Consumer._blockhook_original_seek
    )
