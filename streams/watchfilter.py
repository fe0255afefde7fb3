"""The decode stage's filter: every address watched on each chain, so only transfers that
touch one travel on (a superset is harmless: the tracker decides what really matches)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from streams.records import Transfer


class WatchFilter:
    """chain → set of watched addresses (lower-case). Only grows; removals are not needed
    for correctness and would need per-address reference counts."""

    def __init__(self) -> None:
        self._by_chain: dict[str, set[str]] = {}

    def add(self, chain: str, addresses: Iterable[str]) -> None:
        """Watch these addresses on chain from now on."""
        self._by_chain.setdefault(chain, set()).update(addresses)

    def __len__(self) -> int:
        return sum(len(s) for s in self._by_chain.values())

    def addresses(self, chain: str) -> set[str]:
        """Every address watched on chain (empty if none)."""
        return self._by_chain.get(chain, set())

    def keep(self, chain: str, transfers: Iterable[Transfer]) -> Iterator[Transfer]:
        """The transfers of which either side is watched on chain."""
        watched = self._by_chain.get(chain)
        if not watched:
            return
        for t in transfers:
            if t["to"] in watched or t["sender"] in watched:
                yield t


def marker_chunks(chain: str, addresses: list[str], size: int = 5_000) -> list[dict[str, object]]:
    """Watch markers for the blocks topic: they reach the decode stage in order with blocks."""
    return [
        {"type": "watch", "chain": chain, "add": addresses[i : i + size]}
        for i in range(0, len(addresses), size)
    ]
