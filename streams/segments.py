"""Where the tracker's pending entries are stored: in segments, one table record per batch of
entries that arrived together, instead of one record per entry.

A message of the transfers topic carries a batch of blocks; the entries its blocks add go
into one new segment (one write), and a segment is deleted when its last entry has ended
(one delete). Entries that end by age need no rewrite of their segment: if one comes back
on a reload it is past finality, emits nothing and ends again at the next head. Entries
that end any other way (a reorg, a monitor gone) are not past finality, so their segment is
rewritten without them at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from streams.tracker import Entry

SEGMENT_PREFIX = "seg:"


@dataclass
class SegmentPlan:
    """Table changes for one save: segments to write (whole) and segments to delete."""

    write: dict[str, dict[str, Entry]] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)


@dataclass
class Segments:
    """Segment membership of the pending entries of one chain in one partition."""

    of: dict[str, str] = field(default_factory=dict)  # entry key → segment id
    keys: dict[str, set[str]] = field(default_factory=dict)  # segment id → live entry keys
    stale: set[str] = field(default_factory=set)  # segments left with no live entry on load

    def load(self, records: Iterable[tuple[str, Any]]) -> dict[str, Entry]:
        """Pending entries from stored (segment id, value) records. A value is a segment
        (entry key → entry), or, under a key without the segment prefix, a single entry
        stored under its own key (as earlier versions wrote them)."""
        pending: dict[str, Entry] = {}
        for sid, value in records:
            entries = value if sid.startswith(SEGMENT_PREFIX) else {sid: value}
            for key, e in entries.items():
                pending[key] = cast(Entry, e)
                self._place(key, sid)
        return pending

    def _place(self, key: str, sid: str) -> None:
        old = self.of.get(key)
        if old is not None and old != sid:  # stored twice (a replayed save): keep the newest
            self.keys[old].discard(key)
            if not self.keys[old]:
                self.stale.add(old)
        self.of[key] = sid
        self.keys.setdefault(sid, set()).add(key)

    def plan(
        self,
        pending: dict[str, Entry],
        before: dict[str, Entry],
        ended_by_age: Callable[[Entry], bool],
    ) -> SegmentPlan:
        """The writes that take the stored entries from `before` to `pending`."""
        out = SegmentPlan()
        added = [k for k in pending if k not in before]
        gone = [k for k in before if k not in pending]
        touched = {sid for sid in self.stale if not self.keys.get(sid)}
        self.stale.clear()
        for key in gone:
            sid = self.of.pop(key, None)
            if sid is None:
                continue
            self.keys[sid].discard(key)
            if not ended_by_age(before[key]):
                touched.add(sid)  # must not come back on a reload
            elif not self.keys[sid]:
                touched.add(sid)
        for sid in sorted(touched):
            live = self.keys[sid]
            if live:
                out.write[sid] = {k: pending[k] for k in sorted(live)}
            else:
                del self.keys[sid]
                out.delete.append(sid)
        if added:
            sid = segment_id(added, pending)
            for key in added:
                self._place(key, sid)
            out.write[sid] = {k: pending[k] for k in sorted(self.keys[sid])}
        return out


def segment_id(keys: list[str], pending: dict[str, Entry]) -> str:
    """A new segment's id: its first block number (for reading order) and a digest of its
    entry keys (distinct segments never share an id)."""
    first = min(pending[k]["transfer"]["block_number"] for k in keys)
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:16]
    return f"{SEGMENT_PREFIX}{first:012d}-{digest}"
