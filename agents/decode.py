"""Decode each block into transfers and route them, one message per transfers partition.

Every partition gets a message for every block, even with no transfers in it: that
message is also the head tick by which the tracker counts confirmations. Reorg markers
are broadcast the same way, in order with the blocks.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from agents.sending import send_acked
from blockhook import metrics
from faust_app import app, settings
from streams.decode import decode_block
from streams.match import route
from streams.records import BlockRecord
from streams.topics import blocks_topic, transfers_topic

logger = logging.getLogger(__name__)


def fan_out(
    record: dict[str, Any], partitions: int
) -> list[tuple[bytes | None, bytes, int | None]]:
    """The transfers-topic messages for one record of the blocks topic (pure)."""
    chain = str(record.get("chain"))
    key = chain.encode()
    if record.get("type") == "reorg":
        msg = orjson.dumps({**record, "t": "reorg"})
        return [(key, msg, p) for p in range(partitions)]
    block: BlockRecord = record  # type: ignore[assignment]
    cfg = settings.chain(chain)
    native = cfg.native_symbol if cfg else "ETH"
    finality = cfg.finality_depth if cfg else 64
    routed = route(chain, decode_block(block, native), partitions)
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


@app.agent(blocks_topic)
async def decode(stream: Any) -> None:
    """blocks → transfers (by partition of chain:address), acknowledged before the commit."""
    partitions = settings.partitions
    async for value in stream:
        try:
            record = orjson.loads(value)
            if not isinstance(record, dict) or record.get("type") not in ("block", "reorg"):
                raise ValueError("not a block record")
            out = fan_out(record, partitions)
        except (ValueError, KeyError, TypeError) as exc:
            metrics.inc("blockhook_bad_blocks_total", help="unreadable block records")
            logger.error("skipping unreadable record on the blocks topic: %s", exc)
            continue
        await send_acked(transfers_topic, out)
