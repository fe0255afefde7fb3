"""A stream's events, acknowledged only after the agent is done with them.

Faust acknowledges an event (`events()`) or a batch (`take`, `take_events`) in a `finally`
around its `yield`: when the agent's body raises, or is cancelled half-way because the worker
stops, the generator is closed and that `finally` still acknowledges what the body never
finished, so the next commit moves past messages that were never processed. Here an event or
a batch is acknowledged only when the agent asks for the next one; a body that did not
finish leaves it unacknowledged (said in the log), and it is read again after the restart or
the rebalance."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

logger = logging.getLogger(__name__)


async def acked_events(stream: Any) -> AsyncGenerator[Any, None]:
    """The stream's events, each acknowledged once the agent asks for the next."""
    manual = stream.noack()
    async for event in manual.events():
        try:
            yield event
        except GeneratorExit:
            _left([event])
            raise
        await manual.ack(event)


async def acked_batches(stream: Any, size: int, within: float) -> AsyncGenerator[list[Any], None]:
    """Batches of up to `size` events (what arrived within `within` seconds), each batch
    acknowledged once the agent asks for the next."""
    async for batch in stream.noack_take(size, within=within):  # a fresh list each time
        try:
            yield batch
        except GeneratorExit:
            _left(batch)
            raise
        for event in batch:
            await stream.ack(event)


def _left(events: list[Any]) -> None:
    """Say which messages an agent left unfinished (read again after the rebalance or
    restart)."""
    try:
        first, last = events[0].message, events[-1].message
        where = f"{first.topic}[{first.partition}] offsets {first.offset}-{last.offset}"
    except (AttributeError, IndexError):
        where = f"{len(events)} event(s)"
    logger.warning("left unacknowledged by an agent that did not finish them: %s", where)
