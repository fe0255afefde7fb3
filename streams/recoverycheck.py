"""Which table partitions a worker must rebuild before it restores them, and why.

A table partition's local store remembers the offset of the last changelog record it holds.
Before recovery reads the changelog from there, that offset is compared with the changelog
itself: a store *ahead* of its changelog (the changelog lost records: retention, an unclean
leader election, a re-created topic) or one that stops *before the changelog's first record*
(records it never saw were deleted) holds state the changelog does not. Such a partition is
dropped and read again from the changelog's beginning, instead of refusing to start (Faust's
ConsistencyError) or going on from a state nobody else can rebuild.

Offsets follow Faust's convention: `persisted` is the offset of the last record applied (None
for a new store), `last` the offset of the changelog's last record (-1 when it is empty) and
`start` the offset of its first record that still exists (0 unless records were deleted).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

AHEAD = "ahead"  # the store holds records past the changelog's end
BEHIND_START = "behind_start"  # records between the store and the changelog were deleted


@dataclass(frozen=True)
class Rebuild(Generic[K]):
    """One partition to drop and read again, with the figures that decided it."""

    key: K
    reason: str
    persisted: int
    last: int
    start: int

    def describe(self) -> str:
        if self.reason == AHEAD:
            return (
                f"local store at offset {self.persisted} is ahead of its changelog, whose "
                f"last offset is {self.last}"
            )
        return (
            f"local store at offset {self.persisted} stops before its changelog's first "
            f"offset {self.start} (records in between were deleted)"
        )


def to_rebuild(
    persisted: Mapping[K, int | None],
    last: Mapping[K, int | None],
    start: Mapping[K, int | None],
) -> list[Rebuild[K]]:
    """The partitions whose store disagrees with its changelog, in the order given.

    A partition with no persisted offset (a new store) never needs it; one whose changelog
    figures are unknown (None) is left to the caller, which then trusts the store."""
    out: list[Rebuild[K]] = []
    for key, offset in persisted.items():
        if offset is None or offset < 0:
            continue
        end = last.get(key)
        first = start.get(key)
        if end is None or first is None:
            continue
        if offset > end:
            out.append(Rebuild(key, AHEAD, offset, end, first))
        elif offset + 1 < first:
            out.append(Rebuild(key, BEHIND_START, offset, end, first))
    return out


def true_last(listed: int | None, fetched_highwater: int | None) -> int | None:
    """The offset of a changelog's last record, from the broker's ListOffsets answer (its
    high watermark minus one) and the high watermark a fetch reported.

    Kafka gives both the same; the embedded broker's ListOffsets gives the last *batch's*
    first offset plus one, so a recovery trusting it alone stops before that batch's other
    records. The larger of the two is right on both."""
    fetched = None if fetched_highwater is None else fetched_highwater - 1
    known = [x for x in (listed, fetched) if x is not None]
    return max(known) if known else None
