"""A stream's events, acknowledged only after the agent is done with them.

Faust acknowledges an event (`events()`) or a batch (`take`, `take_events`) in a `finally`
around its `yield`: when the agent's body raises, or is cancelled half-way because the worker
stops, the generator is closed and that `finally` still acknowledges what the body never
finished, so the next commit moves past messages that were never processed. Here an event or
a batch is acknowledged only when the agent asks for the next one; a body that did not
finish leaves it unacknowledged, and it is read again after the restart or the rebalance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


async def acked_events(stream: Any) -> AsyncIterator[Any]:
    """The stream's events, each acknowledged once the agent asks for the next."""
    manual = stream.noack()
    async for event in manual.events():
        yield event
        await manual.ack(event)


async def acked_batches(stream: Any, size: int, within: float) -> AsyncIterator[list[Any]]:
    """Batches of up to `size` events (what arrived within `within` seconds), each batch
    acknowledged once the agent asks for the next."""
    async for events in stream.noack_take(size, within=within):
        batch = list(events)
        yield batch
        for event in batch:
            await stream.ack(event)
