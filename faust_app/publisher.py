"""The publisher agents and the API use inside a worker: Faust's producer, record batches per
partition, and a worker that stops rather than commits past a message the broker refused."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from typing import Any, cast

from core.publish import Message
from core.settings import Settings
from faust_app.internals import aiokafka_producer
from streams.partition import key_partition

logger = logging.getLogger(__name__)

# Exit status of a worker that stops because the broker refused a buffered message.
EXIT_SEND_FAILED = 75


class FaustPublisher:
    """`core.publish.Publisher` over a Faust app's producer."""

    def __init__(self, app: Any, s: Settings) -> None:
        self.app = app
        self.settings = s
        self._names: dict[str, str] = {}
        self._partitions: dict[str, int] = {}

    def _name(self, topic: str) -> str:
        name = self._names.get(topic)
        if name is None:
            name = self._names[topic] = self.settings.topic(topic)
        return name

    async def publish(self, messages: Iterable[Message]) -> None:
        """Send and wait until the broker has every message.

        Gathered into one record batch per partition (a keyed message goes where Kafka's
        default partitioner puts its key, as Faust's `Topic.send` does): the producer's
        per-message `send` costs a future, a metadata lookup and a partitioner call each,
        about 2.5 times the batch's cost per record. Order per partition is the order given."""
        producer = aiokafka_producer(self.app)
        futures: list[Any] = []
        builders: dict[tuple[str, int], Any] = {}
        for topic, key, value, partition in messages:
            name = self._name(topic)
            if partition is None:
                if key is None:
                    futures.append(await producer.send(name, value))
                    continue
                count = self._partitions.get(name)
                if count is None:
                    count = self._partitions[name] = len(await producer.partitions_for(name))
                partition = key_partition(key, count)
            builder = builders.get((name, partition))
            if builder is None:
                builder = builders[name, partition] = producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None) is None:  # full
                futures.append(await producer.send_batch(builder, name, partition=partition))
                builder = builders[name, partition] = producer.create_batch()
                builder.append(key=key, value=value, timestamp=None)  # a first record fits
        for (name, part), builder in builders.items():
            futures.append(await producer.send_batch(builder, name, partition=part))
        await asyncio.gather(*futures)

    async def flush(self) -> None:
        """Wait until the broker has everything handed to the producer so far, table
        changelog records included (Faust's `Producer.flush`)."""
        await self.app.producer.flush()

    async def publish_buffered(self, messages: Iterable[Message]) -> None:
        """Hand the messages straight to Faust's producer without waiting.

        Faust flushes the producer before it commits any offset, so a message that is lost
        in a crash belongs to an input that is processed again (the folds are replay-safe).
        Waiting for an acknowledgement per block would cost a broker round trip per block.
        A message the broker refuses for good (the producer already retried) stops the
        worker at once, before a commit can move past the input that produced it."""
        producer = self.app.producer
        for topic, key, value, partition in messages:
            fut = await producer.send(self._name(topic), key, value, partition, None, None)
            cast("asyncio.Future[Any]", fut).add_done_callback(_exit_if_failed)


def _exit_if_failed(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        stop_unsent(fut.exception())


def stop_unsent(exc: BaseException | None, what: str = "the broker did not take a message") -> None:
    """The broker did not take a message (or work that must not be skipped failed): stop
    this worker at once, before any commit, so the input that produced it is processed
    again after the restart."""
    logger.critical("%s (%r); stopping this worker without a commit", what, exc)
    logging.shutdown()
    os._exit(EXIT_SEND_FAILED)
