"""Which monitors watch an address, per partition: an in-memory index over watch lists.

Stored as one record per (partition, monitor) holding that monitor's addresses in the
partition, so 1,000,000 watched addresses in 100 monitors are 100 x partitions records, not
1,000,000; the index (chain:address → monitor ids) is rebuilt from them when needed.
"""

from __future__ import annotations

from collections.abc import Iterable


class WatchIndex:
    """chain:address → monitor ids, for the partitions of one worker."""

    def __init__(self) -> None:
        self._parts: dict[int, dict[str, set[str]]] = {}

    def has(self, p: int) -> bool:
        """Is partition p's index built?"""
        return p in self._parts

    def build(self, p: int, lists: Iterable[tuple[str, list[str]]]) -> None:
        """Build partition p's index from its (monitor id, watch keys) records."""
        idx: dict[str, set[str]] = {}
        for mid, keys in lists:
            for k in keys:
                idx.setdefault(k, set()).add(mid)
        self._parts[p] = idx

    def update(self, p: int, mid: str, added: Iterable[str], removed: Iterable[str]) -> None:
        """Apply one monitor's change in partition p (the index must be built)."""
        idx = self._parts[p]
        for k in added:
            idx.setdefault(k, set()).add(mid)
        for k in removed:
            ids = idx.get(k)
            if ids is not None:
                ids.discard(mid)
                if not ids:
                    del idx[k]

    def monitors(self, p: int, key: str) -> set[str]:
        """The monitors watching key in partition p."""
        return self._parts[p].get(key, set())

    def forget(self) -> None:
        """Drop every partition (after a rebalance the tables say what this worker owns)."""
        self._parts.clear()


def apply_to_list(
    current: Iterable[str], added: Iterable[str], removed: Iterable[str]
) -> list[str]:
    """A monitor's watch list in one partition after a change (sorted, no duplicates)."""
    return sorted((set(current) | set(added)) - set(removed))
