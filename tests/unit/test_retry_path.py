"""The retry path lets go of its jobs at once when the worker must (rebalance, shutdown),
even while many attempts to a hanging endpoint wait on its bound. Real loopback server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from agents.deliverer import Deliverer
from core.settings import Settings
from streams.retry import TIERS_S, tier_topic_name
from transport.webhooks import WebhookSender

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def job(i: int, url: str) -> dict[str, Any]:
    return {
        "id": f"dlv_{i:04x}",
        "event": {"id": f"evt_{i:04x}", "type": "transfer.seen", "tx_hash": f"0x{i:064x}"},
        "monitor_id": "mon_hang",
        "kind": "webhook",
        "url": url,
        "secrets": [SECRET],
        "retry": {"delays_s": [1, 1]},
        "attempts": [
            {
                "at": "2026-11-21T12:00:00Z",
                "status_code": None,
                "latency_ms": 2000,
                "error": "timeout after 2s",
                "response": None,
            }
        ],
        "first_at": time.time() - 5,
        "next_attempt_at": time.time() - 1,
    }


async def test_due_attempts_to_a_hanging_endpoint_are_given_back_when_interrupted() -> None:
    seen: list[int] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(1)
        await reader.read(65536)
        await asyncio.sleep(3600)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    s = Settings(broker="kafka://127.0.0.1:1", delivery={"per_host": 4}, retry={"timeout_s": 30})
    sender = WebhookSender(timeout_s=30, allow_loopback=True, allow_private=False)
    d = Deliverer(s, sender)
    jobs = [job(i, f"http://127.0.0.1:{port}/h") for i in range(40)]
    stop_at = time.monotonic() + 0.5
    try:
        # Without letting go this takes 10 rounds of the 30 s timeout (40 jobs, 4 at a
        # time): the guard turns that hang into a failure; the counts below say what let go.
        out = await asyncio.wait_for(
            d.due_attempts(jobs, lambda: time.monotonic() > stop_at), timeout=25
        )
    finally:
        await sender.close()
        server.close()
    assert 1 <= len(seen) <= 4  # only the endpoint's bound ever reached it
    tiers = {tier_topic_name(t) for t in TIERS_S}
    assert len(out) == 40 and all(m.topic in tiers for m in out)
    back = [orjson.loads(m.value or b"") for m in out]
    assert sorted(j["id"] for j in back) == sorted(j["id"] for j in jobs)
    assert all(len(j["attempts"]) == 1 for j in back)  # a cancelled attempt does not count
    # Already interrupted: nothing is attempted at all.
    again = await d.due_attempts(back, lambda: True)
    assert len(again) == 40
    assert all(len(orjson.loads(m.value or b"")["attempts"]) == 1 for m in again)
