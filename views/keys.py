"""Every worker's view of the API keys: records folded from the keys topic, secrets opened.

Revoking a key publishes its record again with `revoked` set; each worker's fold applies it
within its fetch wait (well under a second), which is how a revoked key stops working
everywhere. Opened secrets live only in this process's memory."""

from __future__ import annotations

import logging
from typing import Any

from core.settings import Settings
from streams.apikeys import KeyInfo, key_info, public
from streams.secretbox import SecretBox, SecretBoxError
from views.topicfold import UNREADABLE, TopicFold, parsed

logger = logging.getLogger(__name__)


class KeysView(TopicFold):
    """In-memory fold of the keys and keys.usage topics."""

    TOPICS = ("keys", "keys.usage")
    FETCH_MAX_WAIT_MS = 500  # a revocation must arrive within 5 s, not within milliseconds

    def __init__(self, s: Settings, box: SecretBox) -> None:
        super().__init__(s)
        self.box = box
        self.records: dict[str, dict[str, Any]] = {}
        self.checked: dict[str, KeyInfo] = {}
        self.last_used: dict[str, float] = {}
        self._usage_topic = s.topic("keys.usage")

    def apply(self, topic: str, key: bytes | None, value: bytes | None, ts_ms: int) -> None:
        k = key.decode(errors="replace") if key else ""
        data = parsed(value)
        if data is UNREADABLE:
            return
        if topic == self._usage_topic:
            if isinstance(data, dict) and isinstance(data.get("at"), int | float):
                self.touch(k, float(data["at"]))
            return
        if not isinstance(data, dict):
            self.records.pop(k, None)
            self.checked.pop(k, None)
            return
        try:
            info = key_info(data, self.box)
        except (SecretBoxError, KeyError, TypeError, ValueError) as exc:
            # A key this worker cannot open is refused here (and said so once in the log).
            logger.error("key %s cannot be used on this worker: %s", k, exc)
            self.checked.pop(k, None)
        else:
            self.checked[k] = info
        self.records[k] = data

    def get(self, key_id: str) -> KeyInfo | None:
        """The checked key, or None."""
        return self.checked.get(key_id)

    def touch(self, key_id: str, at: float) -> None:
        """Note a use of the key (the latest wins)."""
        if at > self.last_used.get(key_id, 0.0):
            self.last_used[key_id] = at

    def public(self, key_id: str) -> dict[str, Any] | None:
        """The key as the API shows it, or None."""
        rec = self.records.get(key_id)
        return public(rec, self.last_used.get(key_id)) if rec is not None else None
