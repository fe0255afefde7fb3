"""Monitors published straight onto the monitors topic work like the API; bad ones are skipped."""

from __future__ import annotations

import asyncio
import secrets
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from dev import chaintools as ct
from dev.devstack import DevStack, healthz
from schemas.monitor import new_secret
from tests.e2e.conftest import api
from tests.e2e.receiver import Receiver
from tests.e2e.test_pipeline import FUNDER, by_tx, fresh_address

pytestmark = pytest.mark.e2e


async def publish(stack: DevStack, records: list[tuple[bytes, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{stack.cfg.broker_port}")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait("blockhook.monitors", value=value, key=key)
    finally:
        await producer.stop()


def test_monitor_json_on_the_topic_works_like_the_api(stack: DevStack, receiver: Receiver) -> None:
    rpc = stack.cfg.rpc_url
    watched = fresh_address(6)
    mid = "mon_direct" + secrets.token_hex(4)
    monitor = {
        "id": mid,
        "chain": "local",
        "addresses": [watched],
        "webhook": {"url": receiver.url + "/direct", "secret": new_secret()},
    }
    garbage: list[tuple[bytes, bytes | None]] = [
        (b"mon_bad1", b"{not json"),
        (b"mon_bad2", orjson.dumps({"id": "mon_bad2", "chain": "nochain", "addresses": []})),
        (b"mon_other", orjson.dumps({**monitor, "id": "mon_mismatch"})),
        (b"mon_bad3", orjson.dumps({"id": "mon_bad3", "chain": "local", "addresses": ["0xnot"]})),
    ]
    asyncio.run(publish(stack, [*garbage, (mid.encode(), orjson.dumps(monitor))]))

    deadline = time.monotonic() + 30
    while api(stack, "GET", f"/v1/monitors/{mid}")[0] != 200:
        assert time.monotonic() < deadline, "monitor from the topic never became visible"
        time.sleep(0.2)
    time.sleep(1)  # the worker applies it right after; blocks after that must match
    tx = ct.send_eth(rpc, FUNDER, watched, 77)
    ct.mine(rpc, 3)
    evs = receiver.wait_for(
        lambda e: by_tx(e, tx) == ["transfer.seen", "transfer.confirmed"], path="/direct"
    )
    assert all(e["monitor_id"] == mid for e in evs)
    assert (healthz(stack.cfg.api_url) or {}).get("ready") is True

    # a tombstone deletes it: nothing more is sent for the address
    asyncio.run(publish(stack, [(mid.encode(), None)]))
    deadline = time.monotonic() + 30
    while api(stack, "GET", f"/v1/monitors/{mid}")[0] != 404:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)
    after = ct.send_eth(rpc, FUNDER, watched, 78)
    ct.mine(rpc, 3)
    time.sleep(3)
    assert by_tx(receiver.events("/direct"), after) == []
