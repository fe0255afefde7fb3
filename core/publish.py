"""Publishing to topics: the one interface agents and the API write through, and its
in-memory twin for tests.

A message names its topic by its registered name (no prefix: `deliveries.log`); the
publisher that talks to the broker adds the configured prefix. Two guarantees, two calls:
`publish` returns when the broker has every message (for effects that must be there before
something else happens: an API answer, a cursor, an acknowledgement), and `publish_buffered`
hands them to the producer, which the worker flushes before it commits any offset (for the
hot paths, whose inputs are processed again after a crash)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol


class Message(NamedTuple):
    """One record for a topic: `partition` None means Kafka's default for the key."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None


class Publisher(Protocol):
    """Where agents and the API send their records."""

    async def publish(self, messages: Iterable[Message]) -> None:
        """Send and wait until the broker has every message; order kept per partition.
        Raises if the broker refused one (nothing is known of the others)."""

    async def publish_buffered(self, messages: Iterable[Message]) -> None:
        """Hand the messages to the producer without waiting; they are on the broker
        before the next offset commit, or the worker stops before that commit."""


class PublishFailed(RuntimeError):
    """The twin was told to refuse (a broker that is away or refuses a record)."""


class ListPublisher:
    """The in-memory twin: keeps what was published, in order; can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.buffered: list[Message] = []
        self.fail: BaseException | None = None

    async def publish(self, messages: Iterable[Message]) -> None:
        batch = list(messages)
        if self.fail is not None:
            raise self.fail
        self.sent.extend(batch)

    async def publish_buffered(self, messages: Iterable[Message]) -> None:
        batch = list(messages)
        if self.fail is not None:
            raise self.fail
        self.buffered.extend(batch)
