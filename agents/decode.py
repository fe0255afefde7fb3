"""Decode each block into transfers and route them, one message per transfers partition.

Every partition gets a message for every block, even with no transfers in it: that
message is also the head tick by which the tracker counts confirmations. Reorg markers
are broadcast the same way, in order with the blocks.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.sending import send_buffered
from blockhook import metrics
from blockhook.settings import Settings
from faust_app import app, settings
from streams.decode import decode_block
from streams.match import route
from streams.records import BlockRecord
from streams.topics import blocks_topic, transfers_topic
from streams.watchfilter import WatchFilter

logger = logging.getLogger(__name__)

# Compacted topics whose records carry watched addresses ("addresses" or "address").
BOOTSTRAP_TOPICS = ("monitors", "wallets.addresses")


watch_filter = WatchFilter()


def fan_out(
    record: dict[str, Any], partitions: int, watched: WatchFilter
) -> list[tuple[bytes | None, bytes, int | None]]:
    """The transfers-topic messages for one record of the blocks topic.

    Only transfers touching a watched address are routed; every partition still gets one
    message per block, which is also its head tick."""
    chain = str(record.get("chain"))
    key = chain.encode()
    if record.get("type") == "reorg":
        msg = orjson.dumps({**record, "t": "reorg"})
        return [(key, msg, p) for p in range(partitions)]
    block: BlockRecord = record  # type: ignore[assignment]
    cfg = settings.chain(chain)
    native = cfg.native_symbol if cfg else "ETH"
    finality = cfg.finality_depth if cfg else 64
    addrs = watched.addresses(chain)
    routed = route(chain, watched.keep(chain, decode_block(block, native, addrs)), partitions)
    backfill = record.get("backfill")
    head = {
        "t": "backfill" if backfill else "block",
        "monitors": backfill.get("monitors") if isinstance(backfill, dict) else None,
        "chain": chain,
        "chain_id": block["chain_id"],
        "number": block["number"],
        "hash": block["hash"],
        "finality_depth": finality,
    }
    return [(key, orjson.dumps({**head, "items": routed.get(p, [])}), p) for p in range(partitions)]


async def bootstrap_filter(s: Settings, watched: WatchFilter) -> None:
    """Every address of every monitor (and every wallet-derived address) published so far.
    Adds after this arrive as watch markers on the blocks topic, in order with blocks."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
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
        while True:  # until a fetch comes back empty (high watermarks are unreliable on Tansu)
            batch = await consumer.getmany(timeout_ms=300, max_records=50_000)
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    add_from_record(watched, r.value)
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


@app.agent(blocks_topic)
async def decode(stream: Any) -> None:
    """blocks → transfers (by partition of chain:address), acknowledged before the commit."""
    partitions = settings.partitions
    await bootstrap_filter(settings, watch_filter)
    async for value in stream:
        try:
            record = orjson.loads(value)
            kind = record.get("type") if isinstance(record, dict) else None
            if kind == "watch":
                watch_filter.add(str(record["chain"]), (str(a) for a in record["add"]))
                continue
            if kind not in ("block", "reorg"):
                raise ValueError("not a block record")
            out = fan_out(record, partitions, watch_filter)
        except (ValueError, KeyError, TypeError) as exc:
            metrics.inc("blockhook_bad_blocks_total", help="unreadable block records")
            logger.error("skipping unreadable record on the blocks topic: %s", exc)
            continue
        await send_buffered(transfers_topic, out)
