"""Send to topics: acknowledged before going on, or buffered until the next commit."""

from __future__ import annotations

from typing import Any

Messages = list[tuple[bytes | None, bytes, int | None]]


async def send_acked(topic: Any, messages: Messages) -> None:
    """Send (key, value, partition) messages and wait for every acknowledgement, in order.

    For effects that must be on the broker before something else happens (the follower's
    cursor, the watch agent's applied ack)."""
    futures = [
        await topic.send(key=key, value=value, partition=partition)
        for key, value, partition in messages
    ]
    for fut in futures:
        await fut


async def send_buffered(topic: Any, messages: Messages) -> None:
    """Hand (key, value, partition) messages to the producer without waiting.

    Faust flushes the producer before it commits any offset, so a message that is lost in a
    crash belongs to an input that is processed again (the folds are replay-safe). Waiting
    for an acknowledgement per block would cost a broker round trip per block."""
    for key, value, partition in messages:
        await topic.send(key=key, value=value, partition=partition)
