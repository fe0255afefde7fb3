"""The main delivery path against a real loopback HTTP server: each endpoint's bound holds,
a transfer's deliveries reach its monitor in order, a hanging endpoint does not hold up the
others, and every message is acknowledged once, in order per partition. (The broker is the
one thing left out: outcomes go to the in-memory publisher.)"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import orjson

from agents.deliverer import Deliverer
from agents.mainpath import MainPath
from core.publish import ListPublisher
from core.settings import Settings
from transport.webhooks import WebhookSender

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Message:
    def __init__(self, partition: int, offset: int) -> None:
        self.tp = ("blockhook.deliveries", partition)
        self.offset = offset


class Event:
    def __init__(self, value: bytes, partition: int, offset: int) -> None:
        self.value = value
        self.message = Message(partition, offset)


class Acks:
    def __init__(self) -> None:
        self.acked: list[tuple[int, int]] = []

    async def ack(self, event: Event) -> None:
        self.acked.append((event.message.tp[1], event.message.offset))


def job(i: int, url: str, monitor: str, tx: int, kind: str) -> dict[str, Any]:
    return {
        "id": f"dlv_{i:06d}",
        "event": {"id": f"evt_{i:06d}", "type": kind, "tx_hash": f"0x{tx:064x}"},
        "monitor_id": monitor,
        "kind": "webhook",
        "url": url,
        "secrets": [SECRET],
        "retry": {"delays_s": [3600]},
        "attempts": [],
        "first_at": None,
        "next_attempt_at": None,
    }


async def test_bounds_order_isolation_and_in_order_acks() -> None:
    arrivals: list[tuple[str, str, str]] = []  # (path, tx, type)
    active: dict[str, int] = defaultdict(int)
    most: dict[str, int] = defaultdict(int)
    release = asyncio.Event()  # the hanging endpoint answers nothing until the end

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            path = lines[0].split()[1]
            length = next(
                int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length")
            )
            body = orjson.loads(await reader.readexactly(length))
            if path == "/hang":
                await release.wait()
                return
            active[path] += 1
            most[path] = max(most[path], active[path])
            # A seen that takes longer would be overtaken by its confirmed if both were sent
            # at once; arrivals are recorded as answered.
            await asyncio.sleep(0.005 if body["type"] == "transfer.seen" else 0)
            active[path] -= 1
            arrivals.append((path, body["tx_hash"], body["type"]))
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    published = ListPublisher()
    s = Settings(
        broker="kafka://127.0.0.1:1",
        allow_loopback_webhooks=True,
        delivery={"per_host": 3, "concurrency": 64, "fast_timeout_s": 0.5},
    )
    sender = WebhookSender(timeout_s=5, allow_loopback=True, allow_private=False)
    d = Deliverer(s, sender)
    acks = Acks()
    main = MainPath(d, acks, window=40, publisher=published)
    # 300 transfers, each seen then confirmed, to 3 endpoints; one more endpoint hangs.
    jobs = []
    for tx in range(300):
        path = ("/a", "/b", "/c")[tx % 3]
        for kind in ("transfer.seen", "transfer.confirmed"):
            jobs.append(job(len(jobs), base + path, f"mon_{tx % 7}", tx, kind))
    hanging = [
        job(10_000 + i, base + "/hang", "mon_hang", 10_000 + i, "transfer.seen") for i in range(20)
    ]
    messages: list[Event] = []
    offsets = [0, 0]
    for n, start in enumerate(range(0, len(jobs), 30)):
        part = n % 2
        chunk = jobs[start : start + 30] + (hanging[n : n + 1] if n < len(hanging) else [])
        messages.append(Event(orjson.dumps(chunk), part, offsets[part]))
        offsets[part] += 1
    try:
        t0 = time.monotonic()
        for m in messages:
            await main.submit(m)
        while len(acks.acked) < len(messages):
            await asyncio.sleep(0.02)
            assert time.monotonic() - t0 < 20, "not all messages were acknowledged"
    finally:
        release.set()
        await sender.close()
        server.close()
    healthy = [a for a in arrivals if a[0] != "/hang"]
    assert len(healthy) == len(jobs)  # every healthy delivery made, once
    by_tx: dict[str, list[str]] = defaultdict(list)
    for _, tx, kind in healthy:
        by_tx[tx].append(kind)
    assert all(kinds == ["transfer.seen", "transfer.confirmed"] for kinds in by_tx.values())
    assert max(most.values()) <= 3  # the endpoint's bound
    for part in (0, 1):  # acknowledged once each, in order per partition
        assert [o for p, o in acks.acked if p == part] == list(range(offsets[part]))
    # The hanging endpoint's jobs went on to the retry path; one log record per delivery.
    outcomes = published.sent
    handed_off = [m for m in outcomes if m.topic.startswith("deliveries.retry.")]
    assert len(handed_off) == len(hanging)
    logged = [m for m in outcomes if m.topic == "deliveries.log"]
    assert len(logged) == len(jobs)
