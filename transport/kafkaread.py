"""Reading assigned partitions up to where they ended when the reading began.

The end of a partition is the high watermark in the first fetch answer for it (the embedded
broker's ListOffsets answer can fall a batch short; its fetch answer does not), and the
partition is read when the consumer's position has reached it. A fetch that comes back empty
proves nothing: on a busy broker the first answer can take longer than the fetch's wait. The
end is taken once, so a topic written to all the time is still read through in the end."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

logger = logging.getLogger(__name__)


class StartEnds:
    """The ends of a fresh consumer's partitions, as their first fetch answers report them."""

    def __init__(self, tps: Iterable[TopicPartition]) -> None:
        self.tps = list(tps)
        self.ends: dict[TopicPartition, int] = {}

    async def reached(self, consumer: AIOKafkaConsumer) -> bool:
        """Whether every partition has been read up to its end (False while one has had no
        fetch answer yet)."""
        for tp in self.tps:
            if tp not in self.ends:
                hw = consumer.highwater(tp)
                if hw is None:
                    return False
                self.ends[tp] = hw
            if await consumer.position(tp) < self.ends[tp]:
                return False
        return True

    def unanswered(self) -> int:
        """How many partitions have had no fetch answer yet."""
        return len(self.tps) - len(self.ends)


async def read_to_end(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    on_record: Callable[[ConsumerRecord[bytes, bytes]], None],
    *,
    what: str,
    warn_every_s: float = 30.0,
) -> None:
    """Hand every record of the (fresh, assigned) partitions to on_record, until each is read
    to its end. It waits for the broker as long as it takes, saying so every warn_every_s:
    stopping short would leave the caller with a partial picture it takes for the whole."""
    ends = StartEnds(tps)
    started = time.monotonic()
    warn_at = started + warn_every_s
    while not await ends.reached(consumer):
        batch = await consumer.getmany(*tps, timeout_ms=300, max_records=50_000)
        for records in batch.values():
            for r in records:
                on_record(r)
        if time.monotonic() >= warn_at:
            warn_at += warn_every_s
            logger.warning(
                "%s: still reading to the end after %.0f s (%d partitions not answered yet)",
                what,
                time.monotonic() - started,
                ends.unanswered(),
            )
