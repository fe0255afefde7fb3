"""Traffic for the fail-over tests: a pump of transfers to watched addresses, what reached the
webhook and the events topic, and the check that every transfer was confirmed under one id
per state."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from dev import chaintools as ct
from transport.kafkaread import read_to_end


@dataclass
class Pump:
    """Sends wei from `sender` to the addresses in turn every `interval_s`, in a thread,
    until stopped; a send the node refuses is retried at the next turn."""

    rpc: str
    sender: str
    addresses: list[str]
    interval_s: float = 0.3
    sent: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Pump:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            to = self.addresses[i % len(self.addresses)]
            try:
                self.sent.append(ct.send_eth(self.rpc, self.sender, to, 1_000 + i))
                i += 1
            except Exception as exc:  # the node is there for the whole test; note and go on
                self.errors.append(repr(exc))
            self._stop.wait(self.interval_s)

    def wait_sent(self, n: int, timeout_s: float = 60.0) -> None:
        """Until at least n more transfers than now have been sent."""
        target = len(self.sent) + n
        deadline = time.monotonic() + timeout_s
        while len(self.sent) < target:
            assert time.monotonic() < deadline, f"the pump sent {len(self.sent)} of {target}"
            time.sleep(0.05)

    def stop(self) -> list[str]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        return list(self.sent)


def events_on_topic(bootstrap: str, topic: str, addresses: Iterable[str]) -> list[dict[str, Any]]:
    """Every event on the events topic (from its beginning) keyed by one of the addresses, up
    to where each partition ended when the read began (transport.kafkaread: not an empty
    fetch, and not the embedded broker's end offsets, which can be a batch short)."""
    wanted = {a.lower() for a in addresses}
    return asyncio.run(_read(bootstrap, topic, wanted))


async def _from_start(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of the topics, assigned to the consumer from its beginning."""
    parts = [
        TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())
    ]
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)
    return parts


async def _read(bootstrap: str, topic: str, wanted: set[str]) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    out: list[dict[str, Any]] = []

    def keep(r: ConsumerRecord[bytes, bytes]) -> None:  # keyed by the watched address
        if (r.key or b"").decode(errors="replace").lower() in wanted and r.value:
            out.append(orjson.loads(r.value))

    try:
        parts = await _from_start(consumer, [topic])
        await read_to_end(consumer, parts, keep, what=f"reading {topic}")
    finally:
        await consumer.stop()
    return out


def confirmed_once_each(events: list[dict[str, Any]], txs: Iterable[str]) -> list[str]:
    """What is wrong with `events` for the transfers `txs`: each must be confirmed, and each
    (transfer, state) may come under one event id only (repeats of that id are at-least-once
    and fine). An empty list when all is well."""
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for e in events:
        if e.get("type", "").startswith("transfer."):
            ids[(str(e["tx_hash"]), str(e["type"]))].add(str(e["id"]))
    problems = [f"{k} under {len(v)} ids" for k, v in ids.items() if len(v) > 1]
    problems += [f"{t} never confirmed" for t in txs if (t, "transfer.confirmed") not in ids]
    problems += [
        f"{k[0]} reverted" for k in ids if k[1] == "transfer.reverted" and k[0] in set(txs)
    ]
    return problems


def wait_until(pred: Any, timeout_s: float = 90.0, what: str = "condition") -> Any:
    """pred()'s first true answer, asked every 0.3 s; fails the test after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def get_json(url: str, timeout_s: float = 3.0) -> tuple[int, Any]:
    """(status, parsed JSON) of a GET; (0, None) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except (OSError, ValueError):
        return 0, None


def metric(url: str, name: str, **labels: str) -> float:
    """One sample of a worker's /metrics (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=3) as r:
        text = r.read().decode()
    total = 0.0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def trace_txs(bootstrap: str, txs: Iterable[str]) -> str:
    """Where each of `txs` shows on every topic (partition@offset, with the event types on the
    events topic), and every group's committed offsets: what a failed fail-over test prints,
    so that a lost transfer says which hop it did not pass."""
    return asyncio.run(_trace(bootstrap, [t.lower() for t in txs]))


def blocks_in(value: bytes | None) -> str:
    """The block numbers a blocks or transfers message carries, in its order."""
    try:
        data = orjson.loads(value or b"null")
    except orjson.JSONDecodeError:
        return "?"
    records = data if isinstance(data, list) else [data]
    return ",".join(str(r.get("number")) for r in records if isinstance(r, dict))


async def _trace(bootstrap: str, txs: list[str]) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    found: dict[str, list[str]] = defaultdict(list)
    ends: list[str] = []
    try:
        hops = ("blocks", "transfers", "events", "deliveries")
        topics = sorted(
            t for t in await consumer.topics() if t.rsplit(".", 1)[-1] in hops or ".log" in t
        )
        parts = await _from_start(consumer, topics)

        def look(r: ConsumerRecord[bytes, bytes]) -> None:
            value = (r.value or b"").decode(errors="replace").lower()
            for t in txs:
                if t in value:
                    what = ""
                    if r.topic.endswith("events"):
                        what = ":" + str(orjson.loads(r.value or b"{}").get("type"))
                    elif r.topic.endswith(("blocks", "transfers")):
                        what = ":blocks " + blocks_in(r.value)
                    found[t].append(f"{r.topic}[{r.partition}]@{r.offset}{what}")

        try:  # bounded: the test's own time limit must still report what was found
            await asyncio.wait_for(read_to_end(consumer, parts, look, what="trace"), 60)
        except TimeoutError:
            ends.append("(the topics were not all read within 60 s)")
        for tp in parts:
            end = await consumer.position(tp)
            if end:
                ends.append(f"{tp.topic}[{tp.partition}] end {end}")
    finally:
        await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    committed: list[str] = []
    try:
        groups = [g[0] for g in await admin.list_consumer_groups()]
    except Exception as exc:  # a diagnostic: say what it could not read
        groups, committed = [], [f"groups not listed: {exc!r}"]
    finally:
        await admin.close()
    for group in groups:  # the admin client's own offsets call fails here (docs/operations.md)
        reader = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await reader.start()
        try:
            for tp in parts:
                offset = await reader.committed(tp)
                if offset is not None:
                    committed.append(f"{group} {tp.topic}[{tp.partition}] committed {offset}")
        except Exception as exc:
            committed.append(f"{group}: committed offsets not read: {exc!r}")
        finally:
            await reader.stop()
    lines = [f"{t}: {' '.join(found.get(t, [])) or 'on no topic'}" for t in txs]
    return "\n".join(lines + ends + committed)
