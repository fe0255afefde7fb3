"""The high watermark of changelog partitions as a fetch reports it.

A fetch answer carries each partition's high watermark, and the embedded broker gets that one
right where its ListOffsets answer falls a batch short (streams/recoverycheck.true_last). A
short-lived consumer with no group fetches once from where ListOffsets said the end was."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

logger = logging.getLogger(__name__)


async def fetched_highwaters(
    bootstrap: str, listed_ends: Mapping[TopicPartition, int], timeout_s: float = 5.0
) -> dict[TopicPartition, int]:
    """Each partition's high watermark from a fetch at `listed_ends[tp]` (the ListOffsets end);
    partitions the broker did not answer for within timeout_s are left out."""
    tps = [TopicPartition(tp.topic, tp.partition) for tp in listed_ends]
    if not tps:
        return {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
        max_partition_fetch_bytes=1024,  # the records are not wanted, only the answer
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        for tp, end in zip(tps, listed_ends.values(), strict=True):
            consumer.seek(tp, max(0, end))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(consumer.highwater(tp) is not None for tp in tps):
                break
            await consumer.getmany(timeout_ms=100)
        found = {tp: consumer.highwater(tp) for tp in tps}
        missing = [tp for tp, hw in found.items() if hw is None]
        if missing:
            logger.warning("no fetch answer for %d changelog partitions", len(missing))
        return {tp: hw for tp, hw in found.items() if hw is not None}
    finally:
        await asyncio.shield(consumer.stop())
