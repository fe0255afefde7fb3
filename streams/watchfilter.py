"""The decode stage's filter: every address watched on each chain, so only transfers that
touch one travel on (a superset is harmless: the tracker decides what really matches).

Per chain, an exact compact set of the addresses (24 bytes each; it counts them and the
Bloom filter is rebuilt from it when it outgrows its size) and the Bloom filter the decode
stage asks for both sides of every transfer (4 to 8 bytes each)."""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator

from streams.addrbloom import AddressBloom
from streams.addrmap import AddressSet, keys_of
from streams.records import Transfer

NOTHING: frozenset[str] = frozenset()


class WatchFilter:
    """chain → watched addresses. Only grows; removals are not needed for correctness and
    would need per-address reference counts."""

    def __init__(self) -> None:
        self._sets: dict[str, AddressSet] = {}
        self._blooms: dict[str, AddressBloom] = {}

    def add(self, chain: str, addresses: Iterable[str]) -> None:
        """Watch these addresses on chain from now on (those not 0x + 40 hex are ignored)."""
        keys = keys_of(list(addresses))
        known = self._sets.setdefault(chain, AddressSet())
        if not known.add_many(keys):
            return
        bloom = self._blooms.get(chain)
        if bloom is None or len(known) > bloom.capacity:
            bloom = self._blooms[chain] = AddressBloom(expected=len(known))
            for shard in known.chunks():
                bloom.add(shard)
        else:
            bloom.add(keys)

    def __len__(self) -> int:
        return sum(len(s) for s in self._sets.values())

    @property
    def nbytes(self) -> int:
        """Bytes held by the sets and the Bloom filters."""
        return sum(s.nbytes for s in self._sets.values()) + sum(
            b.nbytes for b in self._blooms.values()
        )

    def addresses(self, chain: str) -> Container[str]:
        """May-contain for the addresses watched on chain: never a false "no"."""
        return self._blooms.get(chain, NOTHING)

    def keep(self, chain: str, transfers: Iterable[Transfer]) -> Iterator[Transfer]:
        """The transfers of which either side may be watched on chain."""
        watched = self._blooms.get(chain)
        if watched is None:
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
