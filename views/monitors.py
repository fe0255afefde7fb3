"""The API's view of the monitors topic: every monitor, folded by a group-less consumer.

Every worker keeps the whole view, so any worker answers any read. It also follows the
applied topic, so a write can wait until its watch updates are in place. Watch lists are
held at 20 bytes an address (a Python list of strings costs five times that).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from core.settings import Settings
from streams.addrmap import pack, unpack
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


class MonitorsView(TopicFold):
    """In-memory fold of the monitors and monitors.applied topics."""

    TOPICS = ("monitors", "monitors.applied")

    def __init__(self, s: Settings) -> None:
        super().__init__(s)
        self.monitors = PackedMonitors()
        self.applied: dict[str, str | None] = {}
        self._monitors_topic = s.topic("monitors")

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
        elif isinstance(data, dict):
            self.applied[k] = data.get("digest")

    async def wait_applied(self, monitor_id: str, digest: str | None, timeout_s: float) -> bool:
        """Wait until the worker has put this version's watch updates in place."""
        return await self.wait_for(lambda: self.applied.get(monitor_id, "") == digest, timeout_s)
