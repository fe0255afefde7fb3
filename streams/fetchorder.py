"""Which fetched messages may reach a stream, so that none is skipped on a topic without gaps.

Faust's fetch loop hands a message to the streams only when its offset is at or past the last
one it handed over of that partition ("read offset"), and treats a jump forward as a gap in a
compacted topic: the skipped offsets count as done and the commit passes them. Around a
rebalance a message fetched before the seek to the committed offset can still arrive after
it (faust-streaming #216, #221): its offset is past the seek, so the offsets between count as
a gap, and when the partition's own records arrive from the committed offset they are below
the read offset and dropped. On a topic that is not compacted, offsets have no gaps, so here
a message past the next expected offset is refused and the partition is read again from the
expected one. When reading again brings the same jump, the partition's first offset says
whether the records between were removed by retention (a real gap, read on from the first
offset) or not (read again once more).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    DELIVER = "deliver"  # in order: hand it to the streams
    ALREADY = "already"  # at or below an offset handed over already: Faust decides
    REREAD = "reread"  # past the next expected offset: read the partition again from it
    SKIP = "skip"  # the rest of a batch whose partition is being read again


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    expected: int | None = None
    # Faust's read offset is past this message though it was never handed over: lower it,
    # or Faust drops the message.
    lower_read_offset: bool = False
    # The same jump came back after reading again: ask where the partition now begins.
    repeat: bool = False


class FetchOrder:
    """The next offset expected per partition of the topics without gaps, fed by the seeks,
    the revocations and each message handed over."""

    def __init__(self) -> None:
        self.next: dict[Hashable, int] = {}
        self.reread_from: dict[Hashable, int] = {}
        self.skipping: set[Hashable] = set()

    def seeked(self, tp: Hashable, offset: int | None) -> None:
        """Reading of tp resumes at offset (None: where the consumer decides)."""
        self.skipping.discard(tp)
        if offset is None or offset < 0:
            self.next.pop(tp, None)
        else:
            self.next[tp] = offset

    def forget(self, tps: Iterable[Hashable]) -> None:
        for tp in tps:
            self.next.pop(tp, None)
            self.reread_from.pop(tp, None)
            self.skipping.discard(tp)

    def new_batch(self) -> None:
        """A fetch's batch begins: partitions being read again take messages again."""
        self.skipping.clear()

    def decide(self, tp: Hashable, offset: int, read_offset: int | None) -> Decision:
        """What to do with the message at offset of tp; `read_offset` is Faust's."""
        if tp in self.skipping:
            return Decision(Verdict.SKIP)
        expected = self.next.get(tp)
        if expected is None:
            self.next[tp] = offset + 1
            return Decision(Verdict.DELIVER)
        if offset < expected:
            return Decision(Verdict.ALREADY, expected)
        if offset > expected:
            repeat = self.reread_from.get(tp) == expected
            self.reread_from[tp] = expected
            self.skipping.add(tp)
            return Decision(Verdict.REREAD, expected, repeat=repeat)
        self.reread_from.pop(tp, None)
        self.next[tp] = offset + 1
        lower = read_offset is not None and offset < read_offset
        return Decision(Verdict.DELIVER, expected, lower_read_offset=lower)

    def begins_at(self, tp: Hashable, earliest: int) -> bool:
        """The partition now begins at `earliest`: if the next expected offset was removed
        (retention), reading goes on from `earliest`. Whether it moved."""
        expected = self.next.get(tp)
        if expected is None or earliest <= expected:
            return False
        self.next[tp] = earliest
        self.reread_from.pop(tp, None)
        self.skipping.discard(tp)
        return True
