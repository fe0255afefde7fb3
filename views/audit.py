"""Every worker's view of the audit log: the chained records in order, for listing and
verifying, and the head the chainer continues from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.settings import Settings
from streams.auditchain import GENESIS, Head, Verdict, verify
from views.topicfold import UNREADABLE, TopicFold, parsed


class AuditView(TopicFold):
    """In-memory fold of the audit topic (one partition, so its order is the chain's)."""

    TOPICS = ("audit",)
    FETCH_MAX_WAIT_MS = 500  # readers of the log can wait half a second for a new record

    def __init__(self, s: Settings) -> None:
        super().__init__(s)
        self.records: list[dict[str, Any]] = []
        self.ids: set[str] = set()

    def apply(self, topic: str, key: bytes | None, value: bytes | None, ts_ms: int) -> None:
        data = parsed(value)
        if data is UNREADABLE:
            data = {"unreadable": True}  # kept, so verify names it instead of skipping it
        if not isinstance(data, dict):
            data = {"unreadable": True}
        self.records.append(data)
        if isinstance(data.get("id"), str):
            self.ids.add(data["id"])

    def head(self) -> Head:
        """The last record's seq and hash (the start of the chain if there is none)."""
        if not self.records:
            return Head(0, GENESIS)
        last = self.records[-1]
        return Head(int(last.get("seq") or 0), str(last.get("hash") or GENESIS))

    def verify(self) -> Verdict:
        """The whole chain checked from its first record."""
        return verify(self.records)

    def select(
        self,
        principal: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: str | None = None,
        until: str | None = None,
        after_seq: int = 0,
    ) -> Iterator[dict[str, Any]]:
        """Records in chain order after `after_seq` matching every filter given (times as
        RFC 3339 UTC text, which sorts as time does; `until` is exclusive)."""
        start = max(0, after_seq)  # seq n sits at index n-1 in a sound chain
        if start and not (
            start <= len(self.records) and self.records[start - 1].get("seq") == start
        ):
            start = 0
        for rec in self.records[start:]:
            if int(rec.get("seq") or 0) <= after_seq:
                continue
            if principal is not None and rec.get("principal") != principal:
                continue
            if action is not None and rec.get("action") != action:
                continue
            if target is not None and rec.get("target") != target:
                continue
            at = str(rec.get("at") or "")
            if since is not None and at < since:
                continue
            if until is not None and at >= until:
                continue
            yield rec
