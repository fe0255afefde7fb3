"""Monitors topic → watch updates on the transfers topic (ordered before later blocks)."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from core import metrics
from core.publish import Message
from faust_app import app, publisher, settings
from faust_app.tables import monitors_table
from faust_app.topics import monitors_topic
from schemas.monitor import finalize_monitor
from streams.watchfilter import marker_chunks
from streams.watchlist import monitor_digest, watch_updates

logger = logging.getLogger(__name__)


def parse_monitor(key: bytes | None, value: bytes | None) -> dict[str, Any] | None:
    """A validated monitor from a topic record; None for a tombstone. Raises ValueError."""
    if value is None:
        return None
    data = orjson.loads(value)
    if not isinstance(data, dict):
        raise ValueError("monitor record is not a JSON object")
    if key is not None and key.decode(errors="replace") != data.get("id"):
        raise ValueError(f"record key {key!r} is not the monitor id {data.get('id')!r}")
    chain = settings.chain(str(data.get("chain")))
    known = ", ".join(c.name for c in settings.chains)
    return finalize_monitor(data, chain, known, make_secret=False)


@app.agent(monitors_topic)
async def apply_monitors(stream: Any) -> None:
    """Keep the monitors table and send watch updates for what changed."""
    async for event in stream.events():
        key: bytes | None = event.key
        if not key:
            logger.error("monitor record without a key skipped")
            continue
        try:
            new = parse_monitor(key, event.value)
        except ValueError as exc:  # includes JSON errors and MonitorRejected
            metrics.inc("blockhook_bad_monitors_total", help="invalid monitor records skipped")
            logger.error("invalid monitor record %r skipped: %s", key, exc)
            continue
        raw_old = monitors_table.get(key)
        old = orjson.loads(raw_old) if raw_old else None
        if old is not None and new is not None and old["chain"] != new["chain"]:
            # Changing chain: remove every old address, then add the new ones.
            msgs = watch_updates(old, None, settings.partitions) + watch_updates(
                None, new, settings.partitions
            )
        else:
            msgs = watch_updates(old, new, settings.partitions)
        await publisher.publish(
            Message("transfers", key, orjson.dumps(m), int(m["partition"])) for m in msgs
        )
        if new is None:
            monitors_table.pop(key, None)
        else:
            monitors_table[key] = orjson.dumps(new)
        if (
            new is not None
            and new.get("start_block") is not None
            and (
                old is None
                or old.get("start_block") != new["start_block"]
                or old["chain"] != new["chain"]
            )
        ):
            request = {
                "chain": new["chain"],
                "from": new["start_block"],
                "to": None,
                "monitors": [new["id"]],
            }
            await publisher.publish(
                [Message("backfill", new["chain"].encode(), orjson.dumps(request))]
            )
        # The decode stage's filter learns the added addresses in order with the blocks.
        added = sorted({a for m in msgs if m["t"] == "watch" for _, a in m.get("add", [])})
        if new is not None and added:
            await publisher.publish(
                Message("blocks", new["chain"].encode(), orjson.dumps(m))
                for m in marker_chunks(new["chain"], added)
            )
        # Tell the API the watch updates are in place: blocks published from now on match.
        applied = {"id": key.decode(), "digest": monitor_digest(new)}
        await publisher.publish([Message("monitors.applied", key, orjson.dumps(applied))])
