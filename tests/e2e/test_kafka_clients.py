"""A librdkafka client (confluent-kafka) against the embedded broker, as a user's own code
would be: it publishes a monitor straight onto the monitors topic and reads the events
topic in a consumer group. docs/operations.md says which clients work and how to configure
their group for the embedded broker."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from dev import chaintools as ct
from dev.devstack import DevStack
from schemas.monitor import new_secret
from tests.e2e.receiver import Receiver
from tests.e2e.test_pipeline import FUNDER, fresh_address

pytestmark = pytest.mark.e2e

EVENT_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "event.schema.json"


@pytest.fixture()
def bootstrap(stack: DevStack) -> str:
    return f"127.0.0.1:{stack.cfg.broker_port}"


def consume_until(consumer: Consumer, done: Any, timeout_s: float) -> list[Any]:
    """Messages polled until done(messages) holds; fails after timeout_s."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while not done(got):
        assert time.monotonic() < deadline, f"timed out after {len(got)} messages"
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise KafkaException(msg.error())
        got.append(msg)
    return got


@pytest.fixture()
def applied(bootstrap: str) -> Iterator[Consumer]:
    """A group-less reader of the monitors.applied topic, from its beginning."""
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False}
    )
    meta = c.list_topics("blockhook.monitors.applied", timeout=10)
    parts = meta.topics["blockhook.monitors.applied"].partitions
    c.assign([TopicPartition("blockhook.monitors.applied", p, 0) for p in parts])
    yield c
    c.close()


def test_a_librdkafka_client_publishes_a_monitor_and_reads_its_events_in_a_group(
    stack: DevStack, bootstrap: str, applied: Consumer, receiver: Receiver
) -> None:
    watched = fresh_address(77)
    mid = "mon_rdkafka" + secrets.token_hex(4)
    monitor = {
        "id": mid,
        "chain": "local",
        "addresses": [watched],
        "webhook": {"url": receiver.url + "/rdkafka", "secret": new_secret()},
    }
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce("blockhook.monitors", key=mid.encode(), value=orjson.dumps(monitor))
    assert producer.flush(30) == 0, "the monitor was not delivered"
    # Once a worker has applied it, every later block is matched against it.
    consume_until(applied, lambda got: any(m.key() == mid.encode() for m in got), 60)

    # A consumer group as a user's service would run one; the embedded broker holds each
    # join for half the session timeout, so a short session joins in 3 s (45 s by default).
    group = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "rdkafka-" + secrets.token_hex(4),
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            "enable.auto.commit": True,
        }
    )
    try:
        group.subscribe(["blockhook.events"])
        tx = ct.send_eth(stack.cfg.rpc_url, FUNDER, watched, 4711)
        ct.mine(stack.cfg.rpc_url, 3)

        def confirmed(got: list[Any]) -> bool:
            return any(
                orjson.loads(m.value()).get("tx_hash") == tx and b"confirmed" in m.value()
                for m in got
            )

        mine = [
            m
            for m in consume_until(group, confirmed, 90)
            if orjson.loads(m.value()).get("monitor_id") == mid
        ]
    finally:
        group.close()
    schema = orjson.loads(EVENT_SCHEMA.read_bytes())
    types = []
    for m in mine:
        event = orjson.loads(m.value())
        jsonschema.validate(event, schema)
        assert m.key() == watched.encode()  # keyed by the watched address
        assert event["amount"] == "4711" and event["to"] == watched
        types.append(event["type"])
    assert types == ["transfer.seen", "transfer.confirmed"]
    # The same events reached the monitor's webhook.
    hooks = receiver.wait_for(lambda evs: len(evs) >= 2, path="/rdkafka")
    assert [e["id"] for e in hooks] == [orjson.loads(m.value())["id"] for m in mine]
