"""Decode blocks into transfers and route them to the transfers partitions, in batches.

Every partition gets a record for every block, even with no transfers in it: that record
is also the head tick by which the tracker counts confirmations. Reorg markers are
broadcast the same way, in order with the blocks. The records of a batch of blocks travel
as one message per partition (streams.fanout).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from core import metrics
from core.publish import Message
from core.settings import Settings
from faust_app import app, publisher, settings
from faust_app.acks import acked_batches
from faust_app.topics import blocks_topic
from streams.fanout import Packer, records_for
from streams.watchfilter import WatchFilter
from transport.kafkaread import read_to_end

logger = logging.getLogger(__name__)

# Compacted topics whose records carry watched addresses ("addresses" or "address").
BOOTSTRAP_TOPICS = ("monitors", "monitors.addresses", "wallets.addresses")


watch_filter = WatchFilter()

# How long a batch waits to fill before the blocks already in it go on: the latency a
# lightly loaded chain pays per block, and what lets a busy one travel in batches.
BATCH_WITHIN_S = 0.01


def decode_batch(values: list[bytes], partitions: int, watched: WatchFilter) -> list[Message]:
    """The transfers-topic messages for a batch of blocks-topic records, in order.

    Watch markers extend the filter for the records after them; only transfers touching a
    watched address are routed; every partition still gets a record per block (its head
    tick). Unreadable records are counted, logged and skipped."""
    packer = Packer(partitions)
    for value in values:
        try:
            record = orjson.loads(value)
            kind = record.get("type") if isinstance(record, dict) else None
            if kind == "watch":
                watched.add(str(record["chain"]), (str(a) for a in record["add"]))
                continue
            if kind not in ("block", "reorg"):
                raise ValueError("not a block record")
            chain = str(record["chain"])
            cfg = settings.chain(chain)
            packer.add(
                records_for(
                    record,
                    partitions,
                    native_symbol=cfg.native_symbol if cfg else "ETH",
                    finality_depth=cfg.finality_depth if cfg else 64,
                    watched=watched.addresses(chain),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            metrics.BAD_BLOCKS.inc()
            logger.error("skipping unreadable record on the blocks topic: %s", exc)
    return [Message("transfers", None, value, p) for p, value in packer.messages()]


async def bootstrap_filter(s: Settings, watched: WatchFilter) -> None:
    """Add every address of every monitor (and every wallet-derived address) published so
    far. Adds after this arrive as watch markers on the blocks topic, in order with blocks."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        # Decode waits for this read: a partition at its end answers after this wait.
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        names = [s.topic(t) for t in BOOTSTRAP_TOPICS]
        tps = [
            TopicPartition(t, p)
            for t in names
            for p in sorted(consumer.partitions_for_topic(t) or set())
        ]
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        await read_to_end(
            consumer, tps, lambda r: add_from_record(watched, r.value), what="decode filter"
        )
    finally:
        await consumer.stop()
    logger.info("decode filter: %d watched addresses", len(watched))


def add_from_record(watched: WatchFilter, value: bytes | None) -> None:
    """Add the addresses of a monitor or an address assignment record."""
    if value is None:
        return
    try:
        rec = orjson.loads(value)
    except orjson.JSONDecodeError:
        return
    if not isinstance(rec, dict) or not isinstance(rec.get("chain"), str):
        return
    addrs = rec.get("addresses") if "addresses" in rec else [rec.get("address")]
    if isinstance(addrs, list):
        watched.add(rec["chain"], (str(a).lower() for a in addrs if isinstance(a, str)))


class FilterFreshness:
    """The blocks partitions the filter is known complete for.

    Adds reach the filter as watch markers on the blocks partition of their chain, and only
    the worker reading that partition sees them; a worker taking a partition over (or
    getting back one it lost) starts reading after the markers it missed. So before a
    batch is decoded, if the worker holds a blocks partition the filter is not known
    complete for, every watched address is read again from the compacted topics: every
    monitor whose marker lies before where reading resumed is on those topics already. A
    partition revoked is forgotten at once, so getting it back reads again."""

    def __init__(self, s: Settings) -> None:
        self.topic = s.topic("blocks")
        self.held: set[int] = set()

    def revoked(self, tps: Any) -> None:
        self.held -= {tp.partition for tp in tps if tp.topic == self.topic}

    async def ensure(self, s: Settings, watched: WatchFilter) -> None:
        now = {tp.partition for tp in app.consumer.assignment() if tp.topic == self.topic}
        if now - self.held:
            await bootstrap_filter(s, watched)
        self.held = now


freshness = FilterFreshness(settings)


@app.on_partitions_revoked.connect  # type: ignore[arg-type]
async def _forget_partitions(sender: Any, revoked: Any, **kwargs: Any) -> None:
    freshness.revoked(revoked)


@app.agent(blocks_topic)
async def decode(stream: Any) -> None:
    """blocks → transfers, a batch of blocks at a time: one message per transfers partition
    and batch, handed to the producer (flushed before the blocks' offsets are committed).
    A batch is acknowledged only after it is handed over (faust_app/acks.py)."""
    partitions = settings.partitions
    size = settings.decode_batch_blocks
    async for events in acked_batches(stream, size, BATCH_WITHIN_S):
        await freshness.ensure(settings, watch_filter)
        values = [e.value for e in events]
        await publisher.publish_buffered(decode_batch(values, partitions, watch_filter))
