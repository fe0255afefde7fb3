"""Monitors and monitors.addresses topics → watch updates on the transfers topic (ordered
before later blocks).

The agents parse each record and apply what streams.monitorplan decides: the publish
steps in order, each acknowledged before the next, then the table write."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from core import metrics
from faust_app import app, publisher, settings
from faust_app.acks import acked_events
from faust_app.tables import apply, monitor_chunks_table, monitors_table
from faust_app.topics import monitor_chunks_topic, monitors_topic
from schemas.monitor import finalize_monitor
from streams.monitorlist import read_chunk, split_chunk_key
from streams.monitorplan import MonitorPlan, plan_chunk, plan_monitor

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
    """Send watch updates for what changed, then keep the monitors table."""
    async for event in acked_events(stream):
        key: bytes | None = event.key
        if not key:
            logger.error("monitor record without a key skipped")
            continue
        try:
            new = parse_monitor(key, event.value)
        except ValueError as exc:  # includes JSON errors and MonitorRejected
            metrics.BAD_MONITORS.inc()
            logger.error("invalid monitor record %r skipped: %s", key, exc)
            continue
        raw_old = monitors_table.get(key)
        await _carry_out(
            plan_monitor(key, orjson.loads(raw_old) if raw_old else None, new, settings.partitions)
        )


def parse_chunk(key: bytes, value: bytes | None) -> dict[str, Any] | None:
    """A validated chunk of a monitor's list from a monitors.addresses record; None for a
    tombstone. Raises ValueError."""
    if value is None:
        if split_chunk_key(key) is None:
            raise ValueError("the key is not <monitor id>:<chunk number>")
        return None
    return read_chunk(key, orjson.loads(value), {c.name for c in settings.chains})


@app.agent(monitor_chunks_topic)
async def apply_monitor_chunks(stream: Any) -> None:
    """Send watch updates for what changed in a chunk of a list, then keep its table copy."""
    async for event in acked_events(stream):
        key: bytes | None = event.key
        try:
            if not key:
                raise ValueError("no key")
            new = parse_chunk(key, event.value)
        except ValueError as exc:  # includes JSON and pydantic errors
            metrics.BAD_MONITORS.inc()
            logger.error("invalid monitors.addresses record %r skipped: %s", key, exc)
            continue
        raw_old = monitor_chunks_table.get(key)
        old = orjson.loads(raw_old) if raw_old else None
        await _carry_out(plan_chunk(key, old, new, settings.partitions))


async def _carry_out(plan: MonitorPlan) -> None:
    """Publish the plan's steps in order, each acknowledged, then write its table copy."""
    for step in plan.steps:
        await publisher.publish(step)
    apply([plan.write])
