"""Records written straight to a topic by a command (no worker running it): bootstrap keys."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from core.settings import Settings
from streams.apikeys import make_key
from streams.secretbox import box_from_settings


async def write_records(s: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Publish (key, value) pairs to the topic (name without the prefix), acknowledged by
    every in-sync replica."""
    producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(s.topic(topic), value, key=key)
    finally:
        await producer.stop()


async def create_key(
    s: Settings,
    principal: str,
    roles: Sequence[str],
    allowed_ips: Sequence[str] = (),
    expires_at: str | None = None,
) -> tuple[dict[str, Any], str]:
    """A new API key on the keys topic (its secret sealed under the configured master key);
    returns the record and the secret, which exists nowhere else in the clear."""
    box = box_from_settings(s.auth)
    record, secret = make_key(box, principal, roles, allowed_ips, expires_at, time.time())
    await write_records(s, "keys", [(record["id"].encode(), orjson.dumps(record))])
    return record, secret
