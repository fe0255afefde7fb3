"""Read every topic of a broker from the beginning with a plain Kafka consumer and look for
text that must never be there in the clear (API key secrets).

A scanner remembers how far it has read each partition, so scanning after every test reads
each record once over the whole session while still covering every topic from its start.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition


@dataclass
class Hit:
    """Where a forbidden needle was found."""

    topic: str
    partition: int
    offset: int
    needle: bytes


@dataclass
class TopicScanner:
    """Scans all topics (internal ones too) for needles, from where the last scan stopped."""

    bootstrap: str
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    records: int = 0

    def scan(self, needles: list[bytes]) -> list[Hit]:
        """Every record written since the last scan that holds one of the needles."""
        return asyncio.run(self._scan(needles))

    async def _scan(self, needles: list[bytes]) -> list[Hit]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        hits: list[Hit] = []
        try:
            topics = await consumer.topics()
            parts = [
                TopicPartition(t, p)
                for t in sorted(topics)
                for p in sorted(consumer.partitions_for_topic(t) or ())
            ]
            consumer.assign(parts)
            ends = await consumer.end_offsets(parts)
            begins = await consumer.beginning_offsets(parts)
            start = {tp: max(self.positions.get(tp, 0), begins[tp]) for tp in parts}
            todo = {tp: ends[tp] for tp in parts if start[tp] < ends[tp]}
            if not todo:
                return hits
            consumer.assign(list(todo))
            for tp in todo:
                consumer.seek(tp, start[tp])
            while todo:
                batch = await consumer.getmany(timeout_ms=2000, max_records=5000)
                for tp, msgs in batch.items():
                    for m in msgs:
                        self.records += 1
                        blob = (m.key or b"") + b"\n" + (m.value or b"")
                        for name, value in m.headers or ():
                            blob += b"\n" + name.encode() + b"=" + (value or b"")
                        hits += [
                            Hit(tp.topic, tp.partition, m.offset, n) for n in needles if n in blob
                        ]
                progressed = False
                for tp in list(todo):
                    pos = await consumer.position(tp)
                    progressed |= pos > self.positions.get(tp, 0)
                    self.positions[tp] = pos
                    if pos >= todo[tp]:
                        del todo[tp]
                if todo and not progressed and not batch:
                    raise AssertionError(f"no records arrive from {sorted(map(str, todo))}")
        finally:
            await consumer.stop()
        return hits
