"""Send to topics and wait until the broker has the messages (for effects before commits)."""

from __future__ import annotations

from typing import Any


async def send_acked(topic: Any, messages: list[tuple[bytes | None, bytes, int | None]]) -> None:
    """Send (key, value, partition) messages and wait for every acknowledgement, in order."""
    futures = [
        await topic.send(key=key, value=value, partition=partition)
        for key, value, partition in messages
    ]
    for fut in futures:
        await fut
