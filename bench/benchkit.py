"""What the benchmarks share: a timestamped log line, random addresses, a process's memory,
marker addresses (one per partition), and waits on the worker's acknowledgements.

Benchmarks import it as a sibling module (`python bench/<name>.py` puts bench/ first on the
path)."""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.match import partition_for


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def rand_hex(nbytes: int, count: int) -> list[str]:
    """count random 0x-hex strings of nbytes bytes each."""
    raw = os.urandom(nbytes * count).hex()
    w = 2 * nbytes
    return ["0x" + raw[i * w : (i + 1) * w] for i in range(count)]


def vm_kb(pid: int, field_name: str) -> int:
    """A Vm* field of /proc/<pid>/status in kB (0 when unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def markers(watched: list[str], salt: int, chain: str, partitions: int) -> list[str]:
    """One watched address per partition (distinct per salt)."""
    picks: dict[int, str] = {}
    rng = random.Random(1000 + salt)
    while len(picks) < partitions:
        a = rng.choice(watched)
        picks.setdefault(partition_for(chain, a, partitions), a)
    return [picks[p] for p in sorted(picks)]


async def wait_applied(bootstrap: str, topic: str, ids: set[str], timeout_s: float = 900) -> float:
    """Until monitors.applied holds every id (read from its beginning: it may also hold
    those of earlier rounds); returns when."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await c.start()
    try:
        tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or {0}]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        got: set[str] = set()
        deadline = time.monotonic() + timeout_s
        while not ids <= got:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(ids - got)} monitors not applied")
            for msgs in (await c.getmany(timeout_ms=200)).values():
                got.update(m.key.decode() for m in msgs if m.key is not None)
        return time.perf_counter()
    finally:
        await c.stop()


async def wait_changelog(bootstrap: str, topic: str, n: int, timeout_s: float = 1800) -> float:
    """Until the changelog topic holds about n records and stops growing (the tracker has
    folded every watch update and Faust has written them); returns when it last grew."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await c.start()
    try:
        deadline = time.monotonic() + timeout_s
        last, since = -1, time.perf_counter()
        while time.monotonic() < deadline:
            parts = c.partitions_for_topic(topic)
            if parts:
                ends = await c.end_offsets([TopicPartition(topic, p) for p in parts])
                total = sum(ends.values())
                if total != last:
                    last, since = total, time.perf_counter()
                # ListOffsets may lag by one batch on Tansu: near n and stable for 3 s.
                elif total >= 0.99 * n and time.perf_counter() - since > 3:
                    return since
            else:
                await c.topics()  # refreshes metadata until the topic exists
            await asyncio.sleep(0.5)
        raise TimeoutError(f"changelog {topic} at {last} of {n} records")
    finally:
        await c.stop()
