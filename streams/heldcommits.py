"""When a commit held below a message in flight is worth a warning.

Agents acknowledge in order, so a partition whose commit is held below a message that was
taken and not acknowledged, while later messages of it are acknowledged, has a message its
agent let go of without finishing: it is read again only after the next rebalance or
restart (at least once, but late). Held for a moment is normal; held at the same offset for
`after_s` is said, once per `every_s` per partition."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass
class HeldCommits:
    """Per partition: the offset its commit is held at, since when, and when it was said."""

    after_s: float = 30.0
    every_s: float = 60.0
    _held: dict[Hashable, tuple[int, float]] = field(default_factory=dict)
    _said: dict[Hashable, float] = field(default_factory=dict)

    def held(self, tp: Hashable, offset: int, now: float) -> float | None:
        """The commit of tp is held at offset now: how long it has been (seconds) when that
        is worth saying, else None."""
        at = self._held.get(tp)
        if at is None or at[0] != offset:
            self._held[tp] = (offset, now)
            return None
        since = now - at[1]
        if since < self.after_s or now - self._said.get(tp, -self.every_s) < self.every_s:
            return None
        self._said[tp] = now
        return since

    def released(self, tp: Hashable) -> None:
        """The commit of tp is no longer held."""
        self._held.pop(tp, None)
