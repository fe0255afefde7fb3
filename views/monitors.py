"""The API's view of the monitors topics: every monitor, folded by a group-less consumer.

Every worker keeps the whole view, so any worker answers any read. It also follows the
applied topic, so a write can wait until its watch updates are in place. A monitor's own
list is held at 20 bytes an address (a Python list of strings costs five times that), the
chunks of a long list (monitors.addresses) at 24, as an index of which chunk holds what.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any

from core.settings import Settings
from streams.addrmap import pack, unpack
from streams.monitorlist import (
    ChunkedList,
    chunk_version,
    read_chunk,
    split_chunk_key,
    stored_chunk,
)
from views.topicfold import UNREADABLE, TopicFold, parsed


class PackedMonitors(MutableMapping[str, dict[str, Any]]):
    """Monitors by id; each one's addresses packed, and unpacked (a fresh dict) when read."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[dict[str, Any], bytes | None]] = {}

    def __setitem__(self, monitor_id: str, monitor: dict[str, Any]) -> None:
        addresses = monitor.get("addresses")
        packed = pack(addresses) if isinstance(addresses, list) and addresses else None
        held = {**monitor, "addresses": None} if packed is not None else monitor
        self._held[monitor_id] = (held, packed)

    def __getitem__(self, monitor_id: str) -> dict[str, Any]:
        held, packed = self._held[monitor_id]
        return held if packed is None else {**held, "addresses": unpack(packed)}

    def __delitem__(self, monitor_id: str) -> None:
        del self._held[monitor_id]

    def __contains__(self, monitor_id: object) -> bool:
        return monitor_id in self._held

    def __iter__(self) -> Iterator[str]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)


# Answers list a monitor's addresses in full up to this many (about 1 MB of JSON); longer
# lists are read a page at a time from /v1/monitors/{id}/addresses.
INLINE_ADDRESSES = 25_000
OUTCOMES = 100_000  # chunk writes whose outcome the view remembers (for writers waiting)


class MonitorsView(TopicFold):
    """In-memory fold of the monitors, monitors.addresses and monitors.applied topics."""

    TOPICS = ("monitors", "monitors.addresses", "monitors.applied")

    def __init__(self, s: Settings) -> None:
        super().__init__(s)
        self.monitors = PackedMonitors()  # monitor id → its record (with its own list)
        self.lists: dict[str, ChunkedList] = {}  # monitor id → the chunks of its list
        self.applied: dict[str, str | None] = {}
        # (chunk key, version) → accepted or refused, for the latest OUTCOMES writes
        self.outcomes: OrderedDict[tuple[str, str | None], bool] = OrderedDict()
        self._monitors_topic = s.topic("monitors")
        self._chunks_topic = s.topic("monitors.addresses")

    def answer(self, monitor: dict[str, Any]) -> dict[str, Any]:
        """A monitor as the API answers it: with its own addresses and its chunks' (each
        once), exactly the contract's monitor; past INLINE_ADDRESSES, its own list with
        `address_count` and `addresses_truncated`."""
        chunks = self.lists.get(monitor["id"])
        own: list[str] = list(monitor.get("addresses") or [])
        if chunks is None or not len(chunks):
            return monitor
        extra = len(chunks) - sum(chunks.contains(own)) if own else len(chunks)
        count = len(own) + extra
        if count > INLINE_ADDRESSES:
            return {**monitor, "address_count": count, "addresses_truncated": True}
        seen = set(own)
        for part in chunks.grouped().values():
            own += [a for a in part if a not in seen]
        return {**monitor, "addresses": own}

    def addresses_page(self, monitor_id: str, after: str, limit: int) -> list[str]:
        """Up to `limit` of a monitor's addresses greater than `after`, in address order."""
        monitor = self.monitors[monitor_id]
        own = sorted(a for a in monitor.get("addresses") or [] if isinstance(a, str))
        chunks = self.lists.get(monitor_id)
        more = chunks.page(after, limit) if chunks is not None else []
        merged = sorted(set([a for a in own if a > after] + more))
        return merged[:limit]

    def apply(self, topic: str, key: bytes | None, value: bytes | None, ts_ms: int) -> None:
        k = key.decode(errors="replace") if key else ""
        data = parsed(value)
        if data is UNREADABLE:
            return
        if topic == self._monitors_topic:
            if data is None:
                self.monitors.pop(k, None)
            elif isinstance(data, dict):
                self.monitors[k] = data
        elif topic == self._chunks_topic:
            self._apply_chunk(k, data)
        elif isinstance(data, dict):
            if "refused" in data:
                self._outcome((k, data["refused"]), False)
            else:
                self.applied[k] = data.get("digest")
                self._outcome((k, data.get("digest")), True)

    def _outcome(self, key: tuple[str, str | None], accepted: bool) -> None:
        self.outcomes[key] = accepted
        self.outcomes.move_to_end(key)
        if len(self.outcomes) > OUTCOMES:
            self.outcomes.popitem(last=False)

    def _apply_chunk(self, key: str, data: Any) -> None:
        """A chunk record, read as the worker's agent reads it (a record it would skip as
        invalid is skipped here too)."""
        where = split_chunk_key(key)
        if where is None:
            return
        mid, n = where
        if data is None:
            chunks = self.lists.get(mid)
            if chunks is not None:
                chunks.put(n, None)
                if not chunks.sizes:
                    del self.lists[mid]
            return
        try:
            chunk = read_chunk(key, data, {c.name for c in self.settings.chains})
        except ValueError:
            return
        # Applied whatever its `base`: the topic's last record of a key is always a version
        # the worker accepted (it puts the kept version back after refusing one), and after
        # compaction the versions a base named may be gone.
        version = chunk_version(stored_chunk(chunk))
        self.lists.setdefault(mid, ChunkedList()).put(n, chunk["addresses"], version)

    async def wait_applied(self, monitor_id: str, digest: str | None, timeout_s: float) -> bool:
        """Wait until the worker has put this version's watch updates in place."""
        return await self.wait_for(lambda: self.applied.get(monitor_id, "") == digest, timeout_s)
