"""An event or batch is acknowledged only when the agent asks for the next one
(faust_app/acks.py): a body that raised or was cancelled leaves it unacknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from faust_app.acks import acked_batches, acked_events


class FakeStream:
    """Faust's stream as these helpers use it: noack(), events(), noack_take(), ack()."""

    def __init__(self, items: list[int]) -> None:
        self.items = items
        self.acked: list[int] = []

    def noack(self) -> FakeStream:
        return self

    async def events(self) -> AsyncIterator[int]:
        for i in self.items:
            try:
                yield i
            finally:  # Faust's own events() acknowledges here, even on the way out
                pass

    async def noack_take(self, size: int, within: float) -> AsyncIterator[list[int]]:
        for k in range(0, len(self.items), size):
            yield self.items[k : k + size]

    async def ack(self, event: Any) -> bool:
        self.acked.append(event)
        return True


def test_events_are_acknowledged_after_the_body() -> None:
    s = FakeStream([1, 2, 3])

    async def run() -> None:
        seen = []
        async for e in acked_events(s):
            assert e not in s.acked
            seen.append(e)
        assert seen == [1, 2, 3]

    asyncio.run(run())
    assert s.acked == [1, 2, 3]


def test_an_event_whose_body_raised_is_not_acknowledged(caplog: pytest.LogCaptureFixture) -> None:
    s = FakeStream([1, 2, 3])

    async def run() -> None:
        gen = acked_events(s)
        try:
            async for e in gen:
                if e == 2:
                    raise RuntimeError("stopped half-way")
        finally:
            await gen.aclose()

    with pytest.raises(RuntimeError):
        asyncio.run(run())
    assert s.acked == [1]
    assert "left unacknowledged" in caplog.text


def test_a_cancelled_batch_is_not_acknowledged() -> None:
    s = FakeStream(list(range(10)))
    started = asyncio.Event()

    async def agent() -> None:
        gen = acked_batches(s, 4, 0.01)
        try:
            async for batch in gen:
                if batch[0] == 4:
                    started.set()
                    await asyncio.sleep(60)  # cancelled here, as a stopping worker does
        finally:
            await gen.aclose()

    async def run() -> None:
        task = asyncio.ensure_future(agent())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert s.acked == [0, 1, 2, 3]
