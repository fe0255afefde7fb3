"""Send to topics: acknowledged before going on, or buffered until the next commit."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import Any, cast

from faust_app import app

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
    """Hand (topic, key, value) messages straight to the producer and wait until the broker
    has every one (partitioned by key, as Faust's `Topic.send` does)."""
    producer = app.producer
    futures = [
        await producer.send(topic.get_topic_name(), key, value, None, None, None)
        for topic, key, value in messages
    ]
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
