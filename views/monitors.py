"""The API's view of the monitors topic: every monitor, folded by a group-less consumer.

Every worker keeps the whole view, so any worker answers any read. It also follows the
applied topic, so a write can wait until its watch updates are in place.
"""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from views.topicfold import UNREADABLE, TopicFold, parsed


class MonitorsView(TopicFold):
    """In-memory fold of the monitors and monitors.applied topics."""

    TOPICS = ("monitors", "monitors.applied")

    def __init__(self, s: Settings) -> None:
        super().__init__(s)
        self.monitors: dict[str, dict[str, Any]] = {}
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
