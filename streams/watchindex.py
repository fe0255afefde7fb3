"""Which monitors watch an address, per partition: a compact in-memory index over watch lists.

Stored as one record per (partition, monitor) holding that monitor's addresses in the
partition, so 1,000,000 watched addresses in 100 monitors are 100 x partitions records, not
1,000,000; the index is rebuilt from them when needed. In memory an address costs about 24
bytes: its 20 bytes in a sorted `AddressMap` per (partition, chain), with the number of the
distinct set of monitors that watch it (most addresses share a handful of such sets).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from streams.addrmap import VALUE, AddressMap, key_of, keys_of


class MonitorSets:
    """Distinct sets of monitor ids, numbered from 1 (0 is the empty set)."""

    def __init__(self) -> None:
        self._sets: list[frozenset[str]] = [frozenset()]
        self._ids: dict[frozenset[str], int] = {frozenset(): 0}

    def __getitem__(self, n: int) -> frozenset[str]:
        return self._sets[n]

    def number(self, ids: frozenset[str]) -> int:
        """The number of this set (a new one if it was not seen)."""
        n = self._ids.get(ids)
        if n is None:
            n = self._ids[ids] = len(self._sets)
            self._sets.append(ids)
        return n


def _split(key: str) -> tuple[str, str]:
    """A watch key chain:address as (chain, address)."""
    chain, _, address = key.rpartition(":")
    return chain, address


def _by_chain(keys: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k in keys:
        chain, address = _split(k)
        out.setdefault(chain, []).append(address)
    return out


class WatchIndex:
    """chain:address → monitor ids, for the partitions of one worker."""

    def __init__(self) -> None:
        self._parts: dict[int, dict[str, AddressMap]] = {}
        self._sets = MonitorSets()

    def has(self, p: int) -> bool:
        """Is partition p's index built?"""
        return p in self._parts

    def build(self, p: int, lists: Iterable[tuple[str, list[str]]]) -> None:
        """Build partition p's index from its (monitor id, watch keys) records."""
        self._parts[p] = {}
        for mid, keys in lists:
            self.update(p, mid, keys, ())

    def update(self, p: int, mid: str, added: Iterable[str], removed: Iterable[str]) -> None:
        """Apply one monitor's change in partition p (the index must be built). Keys that
        are not chain:0x-hex-address are ignored: no transfer can carry them."""
        maps = self._parts[p]
        for chain, addresses in _by_chain(added).items():
            self._change(maps.setdefault(chain, AddressMap()), mid, addresses, add=True)
        for chain, addresses in _by_chain(removed).items():
            if chain in maps:
                self._change(maps[chain], mid, addresses, add=False)

    def _change(self, amap: AddressMap, mid: str, addresses: list[str], *, add: bool) -> None:
        """Add mid to (or take it from) the monitor set of each address: one new set number
        per distinct old set, applied to all its addresses at once."""
        keys = keys_of(addresses)
        if not len(keys):
            return
        old = amap.get_many(keys)
        distinct, where = np.unique(old, return_inverse=True)
        renumber = np.array(
            [
                self._sets.number(self._sets[int(n)] | {mid} if add else self._sets[int(n)] - {mid})
                for n in distinct
            ],
            dtype=VALUE,
        )
        new = renumber[where]
        changed = new != old
        amap.put_many(keys[changed], new[changed])

    def monitors(self, p: int, key: str) -> frozenset[str]:
        """The monitors watching key in partition p."""
        chain, address = _split(key)
        amap = self._parts[p].get(chain)
        k = key_of(address)
        if amap is None or k is None:
            return frozenset()
        return self._sets[amap.get(k)]

    def size(self) -> int:
        """Addresses indexed, over every partition and chain."""
        return sum(len(m) for maps in self._parts.values() for m in maps.values())

    def nbytes(self) -> int:
        """Bytes held by the index's arrays."""
        return sum(m.nbytes for maps in self._parts.values() for m in maps.values())

    def forget(self) -> None:
        """Drop every partition (after a rebalance the tables say what this worker owns)."""
        self._parts.clear()
        self._sets = MonitorSets()


def apply_to_list(
    current: Iterable[str], added: Iterable[str], removed: Iterable[str]
) -> list[str]:
    """A monitor's watch list in one partition after a change (sorted, no duplicates)."""
    return sorted((set(current) | set(added)) - set(removed))
