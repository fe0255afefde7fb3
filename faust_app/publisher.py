"""Send to topics: acknowledged before going on, or buffered until the next commit."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import Any, cast

from faust_app import app
from streams.partition import key_partition

logger = logging.getLogger(__name__)

Messages = list[tuple[bytes | None, bytes, int | None]]

# Exit status of a worker that stops because the broker refused a buffered message.
EXIT_SEND_FAILED = 75


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
    """Hand (key, value, partition) messages straight to the producer without waiting.

    Faust flushes the producer before it commits any offset, so a message that is lost in a
    crash belongs to an input that is processed again (the folds are replay-safe). Waiting
    for an acknowledgement per block would cost a broker round trip per block, and Faust's
    own `Topic.send` costs several times the producer's work per message. A message the
    broker refuses for good (the producer already retried) stops the worker at once, before
    a commit can move past the input that produced it."""
    name = topic.get_topic_name()
    producer = app.producer
    for key, value, partition in messages:
        fut = await producer.send(name, key, value, partition, None, None)
        cast("asyncio.Future[Any]", fut).add_done_callback(_exit_if_failed)


async def send_all(messages: Sequence[tuple[Any, bytes | None, bytes]]) -> None:
    """Send (topic, key, value) messages and wait until the broker has every one.

    Keyed messages go to the partition Kafka's default partitioner gives their key (as
    Faust's `Topic.send` does), gathered into one record batch per partition: the producer's
    per-message `send` costs a future, a metadata lookup and a partitioner call each, about
    2.5 times the batch's cost per record. Order per partition is the order given."""
    producer = cast(Any, app.producer)._ensure_producer()  # aiokafka's, under Faust's
    futures: list[Any] = []
    builders: dict[tuple[str, int], Any] = {}
    partitions: dict[str, int] = {}
    for topic, key, value in messages:
        name = topic.get_topic_name()
        if key is None:
            futures.append(await producer.send(name, value))
            continue
        count = partitions.get(name)
        if count is None:
            count = partitions[name] = len(await producer.partitions_for(name))
        part = key_partition(key, count)
        builder = builders.get((name, part))
        if builder is None:
            builder = builders[name, part] = producer.create_batch()
        if builder.append(key=key, value=value, timestamp=None) is None:  # full
            futures.append(await producer.send_batch(builder, name, partition=part))
            builder = builders[name, part] = producer.create_batch()
            builder.append(key=key, value=value, timestamp=None)  # a first record always fits
    for (name, part), builder in builders.items():
        futures.append(await producer.send_batch(builder, name, partition=part))
    await asyncio.gather(*futures)


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
