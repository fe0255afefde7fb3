"""What one monitors (or monitors.addresses) record causes: the records to publish, in
acknowledged steps, and the table write.

The steps must be published in order, each acknowledged before the next:
  1. watch updates on the transfers topic (configs for every partition, then the addresses
     added and removed per partition), so the tracker knows them before later blocks;
  2. a backfill request, when the monitor is new or its start_block or chain changed;
  3. watch markers on the blocks topic, so the decode stage's filter learns the added
     addresses in order with the blocks;
  4. the monitors.applied acknowledgement: the API answers once blocks published from
     then on match the new version.
The table write comes after the last step: a crash before it replays the record against
the old value and publishes every step again (each is safe to repeat), while a write that
landed before a step was acknowledged would make the replay see no change and skip it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from core.publish import Message
from streams.monitorlist import chunk_label, chunk_version, split_chunk_key, stored_chunk
from streams.tablewrites import MONITOR_CHUNKS, MONITORS, TableWrite
from streams.watchfilter import marker_chunks
from streams.watchlist import monitor_digest, watch_updates


class MonitorPlan(NamedTuple):
    """Publish `steps` in order (each acknowledged before the next), then apply `write`."""

    steps: list[list[Message]]
    write: TableWrite


def plan_monitor(
    key: bytes, old: dict[str, Any] | None, new: dict[str, Any] | None, partitions: int
) -> MonitorPlan:
    """The plan that takes the applied monitor `key` from `old` to `new` (None: absent)."""
    if old is not None and new is not None and old["chain"] != new["chain"]:
        # Changing chain: remove every old address, then add the new ones.
        updates = watch_updates(old, None, partitions) + watch_updates(None, new, partitions)
    else:
        updates = watch_updates(old, new, partitions)
    steps = [[Message("transfers", key, orjson.dumps(m), int(m["partition"])) for m in updates]]
    if new is not None and new.get("start_block") is not None:
        if (
            old is None
            or old.get("start_block") != new["start_block"]
            or old["chain"] != new["chain"]
        ):
            request = {
                "chain": new["chain"],
                "from": new["start_block"],
                "to": None,
                "monitors": [new["id"]],
            }
            steps.append([Message("backfill", new["chain"].encode(), orjson.dumps(request))])
    steps += _markers_and_ack(key, new, updates)
    value = orjson.dumps(new) if new is not None else None
    return MonitorPlan(steps, TableWrite(MONITORS, key, value))


def plan_chunk(
    key: bytes, old: dict[str, Any] | None, new: dict[str, Any] | None, partitions: int
) -> MonitorPlan:
    """The plan that takes chunk `key` of a monitor's list (a monitors.addresses record)
    from `old` (as stored) to `new`: its addresses added and removed under the chunk's own
    label in the tracker (no config: the monitor's record brings that), markers, the
    acknowledgement. A write whose `base` is not the stored version is refused: the kept
    version is put back on the topic and the acknowledgement names the refused one."""
    where = split_chunk_key(key)
    assert where is not None, key  # the agent checked it
    base = new.get("base") if new is not None else None
    new = stored_chunk(new) if new is not None else None
    if new is not None and base is not None and base != chunk_version(old):
        # Refused. The kept version goes back on the topic (conditional on itself, so a
        # write accepted meanwhile is not undone), so that its last record is a version the
        # worker holds: what the view and decode's start-up read from the compacted topic.
        kept = old or {**new, "addresses": []}
        again = {**kept, "base": chunk_version(old)}
        refused = {
            "id": key.decode(),
            "digest": monitor_digest(old),
            "refused": monitor_digest(new),
        }
        value = orjson.dumps(old) if old is not None else None
        return MonitorPlan(
            [
                [Message("monitors.addresses", key, orjson.dumps(again))],
                [Message("monitors.applied", key, orjson.dumps(refused))],
            ],
            TableWrite(MONITOR_CHUNKS, key, value),
        )
    label = chunk_label(*where)
    as_list = [
        {"id": label, "chain": c["chain"], "addresses": c["addresses"]} if c else None
        for c in (old, new)
    ]
    updates = watch_updates(as_list[0], as_list[1], partitions, with_cfg=False)
    steps = [[Message("transfers", key, orjson.dumps(m), int(m["partition"])) for m in updates]]
    steps = [s for s in steps if s] + _markers_and_ack(key, new, updates)
    value = orjson.dumps(new) if new is not None else None
    return MonitorPlan(steps, TableWrite(MONITOR_CHUNKS, key, value))


def _markers_and_ack(
    key: bytes, new: dict[str, Any] | None, updates: list[dict[str, Any]]
) -> list[list[Message]]:
    """The last steps of either plan: watch markers for the added addresses on the blocks
    topic, then the monitors.applied acknowledgement of this version."""
    steps: list[list[Message]] = []
    added = sorted({a for m in updates if m["t"] == "watch" for _, a in m.get("add", [])})
    if new is not None and added:
        steps.append(
            [
                Message("blocks", new["chain"].encode(), orjson.dumps(m))
                for m in marker_chunks(new["chain"], added)
            ]
        )
    applied = {"id": key.decode(), "digest": monitor_digest(new)}
    steps.append([Message("monitors.applied", key, orjson.dumps(applied))])
    return steps
