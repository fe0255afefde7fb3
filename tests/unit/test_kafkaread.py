"""Reading partitions to their end: an empty fetch before the first answer is not the end,
the end is the first answer's high watermark, and a topic that never goes idle is still read
through (an in-memory consumer plays the broker)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from transport.kafkaread import StartEnds, read_to_end

A = TopicPartition("t", 0)
B = TopicPartition("t", 1)


@dataclass
class Rec:
    offset: int
    value: bytes


@dataclass
class SlowBroker:
    """A consumer over in-memory logs: the first `silent` fetches answer nothing (no records,
    no high watermark), as a busy broker's first answer arriving after the wait; then each
    fetch returns up to `per_fetch` records a partition, and `grow` more records are appended
    to each log after every fetch (a topic written to all the time)."""

    logs: dict[TopicPartition, list[bytes]]
    silent: int = 2
    per_fetch: int = 3
    grow: int = 0
    fetches: int = 0
    pos: dict[TopicPartition, int] = field(default_factory=dict)
    hw: dict[TopicPartition, int] = field(default_factory=dict)

    async def getmany(self, *tps: TopicPartition, **_: Any) -> dict[TopicPartition, list[Rec]]:
        self.fetches += 1
        out: dict[TopicPartition, list[Rec]] = {}
        if self.fetches > self.silent:
            for tp in tps:
                log, at = self.logs[tp], self.pos.get(tp, 0)
                got = [Rec(o, log[o]) for o in range(at, min(len(log), at + self.per_fetch))]
                self.hw[tp] = len(log)
                self.pos[tp] = at + len(got)
                if got:
                    out[tp] = got
        for tp in tps:
            self.logs[tp] += [b"later"] * self.grow
        return out

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.hw.get(tp)

    async def position(self, tp: TopicPartition) -> int:
        return self.pos.get(tp, 0)


def read(broker: SlowBroker) -> list[bytes]:
    got: list[bytes] = []
    asyncio.run(
        read_to_end(broker, [A, B], lambda r: got.append(r.value), what="test")  # type: ignore[arg-type]
    )
    return got


def test_empty_answers_before_the_first_records_are_not_the_end() -> None:
    broker = SlowBroker({A: [b"a0", b"a1", b"a2", b"a3"], B: [b"b0"]}, silent=3)
    assert sorted(read(broker)) == [b"a0", b"a1", b"a2", b"a3", b"b0"]


def test_empty_partitions_are_at_their_end_once_answered() -> None:
    broker = SlowBroker({A: [], B: []}, silent=1)
    assert read(broker) == []
    assert broker.fetches == 2


def test_a_topic_written_all_the_time_is_read_to_where_it_ended_at_the_first_answer() -> None:
    broker = SlowBroker({A: [b"x"] * 10, B: [b"y"] * 4}, silent=0, per_fetch=2, grow=1)
    got = read(broker)
    # Everything there at the first answer, and it stopped though the logs never stopped
    # growing.
    assert got.count(b"x") == 10 and got.count(b"y") == 4
    assert broker.pos[A] >= 10 and broker.pos[B] >= 4


def test_start_ends_waits_for_every_partition_to_be_answered() -> None:
    broker = SlowBroker({A: [], B: []})
    ends = StartEnds([A, B])
    broker.hw[A] = 0
    assert not asyncio.run(ends.reached(broker))  # type: ignore[arg-type]
    broker.hw[B] = 2
    assert not asyncio.run(ends.reached(broker))  # type: ignore[arg-type]
    broker.pos[B] = 2
    assert asyncio.run(ends.reached(broker))  # type: ignore[arg-type]
    assert ends.unanswered() == 0
