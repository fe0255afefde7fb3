"""A monitor's addresses beyond its own record: numbered chunks on the monitors.addresses topic.

One record may hold a few thousand addresses before it nears the broker's message limit, so a
watch list of millions travels as chunks of at most CHUNK addresses, keyed `<monitor id>:<n>`
(compacted: the latest version of each chunk is kept). A chunk names its chain and carries its
addresses; null deletes it. The monitor's own record keeps its short `addresses` list as the
contract describes it; the watch list is that list and every chunk's.

`ChunkedList` is the API's copy of one monitor's chunks (folded from the topic): which chunk
holds each address, at 24 bytes an address, so a PATCH can tell what is new and which chunks a
removal rewrites without reading them back. Its planners return the chunk records to publish.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import numpy as np

from schemas.monitor import MonitorChunk
from streams.addrmap import VALUE, AddressMap, Keys, address_of, keys_of
from streams.watchlist import WATCH_CHUNK, monitor_digest

CHUNK = WATCH_CHUNK  # addresses a chunk holds at most when the API writes it
MAX_CHUNK = 25_000  # a chunk record published by hand may hold up to this many
CHUNK_KEY = re.compile(r"^(mon_[A-Za-z0-9_-]{1,64}):(0|[1-9][0-9]{0,8})$")

Chunks = dict[int, list[str] | None]  # chunk number → its new addresses, or None to delete it


def chunk_key(monitor_id: str, n: int) -> bytes:
    """The monitors.addresses key of chunk n of a monitor."""
    return f"{monitor_id}:{n}".encode()


def split_chunk_key(key: bytes | str) -> tuple[str, int] | None:
    """(monitor id, chunk number) of a monitors.addresses key; None if it is not one."""
    text = key.decode(errors="replace") if isinstance(key, bytes) else key
    m = CHUNK_KEY.match(text)
    return (m.group(1), int(m.group(2))) if m else None


def read_chunk(key: bytes | str, data: object, chains: Collection[str]) -> dict[str, Any]:
    """A monitors.addresses value (parsed JSON) as the workers take it: valid fields, under
    the key of its own monitor and number, on one of `chains`. Raises ValueError saying why
    not (the agent logs it and skips the record; the view skips it too)."""
    where = split_chunk_key(key)
    if where is None:
        raise ValueError("the key is not <monitor id>:<chunk number>")
    chunk = MonitorChunk.model_validate(data).model_dump(mode="json")
    if (chunk["monitor_id"], chunk["chunk"]) != where:
        raise ValueError(f"record key {key!r} is not the chunk's monitor_id:chunk")
    if chunk["chain"] not in chains:
        known = ", ".join(sorted(chains))
        raise ValueError(f"unknown chain {chunk['chain']!r} (known: {known})")
    return chunk


def chunk_record(monitor_id: str, n: int, chain: str, addresses: list[str]) -> dict[str, Any]:
    """The value of a chunk on the monitors.addresses topic."""
    return {"monitor_id": monitor_id, "chunk": n, "chain": chain, "addresses": addresses}


NO_CHUNK = "none"  # the version of a chunk that does not exist, as a `base` names it


def stored_chunk(chunk: dict[str, Any]) -> dict[str, Any]:
    """A chunk as applied and kept: without the `base` its write was conditional on."""
    return {k: v for k, v in chunk.items() if k != "base"}


def chunk_version(stored: dict[str, Any] | None) -> str:
    """The version of an applied chunk (its acknowledged digest), NO_CHUNK for none."""
    return monitor_digest(stored) or NO_CHUNK


def chunk_label(monitor_id: str, n: int) -> str:
    """How the tracker's index names a chunk: its own watch list, so that an address held by
    two chunks stays watched until both let it go. `#` never occurs in a monitor id."""
    return f"{monitor_id}#{n}"


def label_monitor(label: str) -> str:
    """The monitor id of an index label (a monitor's own list, or one of its chunks)."""
    return label.partition("#")[0]


class ChunkedList:
    """One monitor's chunks: address → chunk number + 1 (24 bytes an address), each chunk's
    size and version."""

    def __init__(self) -> None:
        self._where = AddressMap()
        # Addresses in more than one chunk, with every chunk that holds them (`_where` names
        # one of them). Rare: the view folds a refused write before the kept version comes
        # back, while the refused request's addresses already sit in another chunk (chunks
        # are read from different partitions, in no set order), or a hand-published list
        # repeats an address.
        self._also: dict[bytes, set[int]] = {}
        self.sizes: dict[int, int] = {}
        self.versions: dict[int, str] = {}  # chunk n → the version this copy holds

    def version(self, n: int) -> str:
        """The version of chunk n this copy holds (what a write over it names as `base`)."""
        return self.versions.get(n, NO_CHUNK)

    def __len__(self) -> int:
        """Distinct addresses over all chunks."""
        return len(self._where)

    def put(self, n: int, addresses: list[str] | None, version: str = NO_CHUNK) -> None:
        """Chunk n as the topic now holds it (None: deleted), and its version."""
        if n in self.sizes:
            self._drop(n)
            del self.sizes[n]
            self.versions.pop(n, None)
        if addresses is None:
            return
        keys = np.unique(keys_of(addresses))
        present = self._where.add_absent(keys, n + 1)
        for k, v in zip(keys[present != 0], present[present != 0], strict=True):
            self._also.setdefault(bytes(k), {int(v) - 1}).add(n)
        self.sizes[n] = len(keys)
        self.versions[n] = version

    def _drop(self, n: int) -> None:
        """Chunk n's addresses out of the index; one another chunk also holds moves there."""
        keys, values = self._where.items()
        mine = keys[values == n + 1]
        after = np.zeros(len(mine), dtype=VALUE)
        if self._also:
            for i, k in enumerate(mine):
                held = self._also.get(bytes(k))
                if held is not None:
                    held.discard(n)
                    after[i] = min(held) + 1
            for k, held in list(self._also.items()):
                held.discard(n)
                if len(held) < 2:
                    del self._also[k]
        self._where.put_many(mine, after)

    def chunk_keys(self, n: int) -> Keys:
        """The keys of chunk n (sorted)."""
        keys, values = self._where.items()
        found: Keys = keys[values == n + 1]
        if self._also:
            more = [k for k, held in self._also.items() if n in held]
            if more:
                found = np.unique(np.concatenate([found, np.array(more, dtype=found.dtype)]))
        return found

    def contains(self, addresses: list[str]) -> list[bool]:
        """Whether each address is in some chunk."""
        return [bool(v) for v in self._where.get_many(keys_of(addresses))]

    def page(self, after: str, limit: int) -> list[str]:
        """Up to `limit` addresses greater than `after`, in address order."""
        keys, _ = self._where.items()
        start = 0
        if after:
            probe = keys_of([after])
            start = int(np.searchsorted(keys, probe[0], side="right")) if len(probe) else 0
        return [address_of(bytes(k)) for k in keys[start : start + limit]]

    def grouped(self) -> dict[int, list[str]]:
        """Every chunk's addresses (each in address order), in one pass."""
        keys, values = self._where.items()
        order = np.argsort(values, kind="stable")
        keys, values = keys[order], values[order]
        bounds = np.flatnonzero(np.diff(values)) + 1
        out: dict[int, list[str]] = {}
        for part_k, part_v in zip(np.split(keys, bounds), np.split(values, bounds), strict=True):
            if len(part_v):
                out[int(part_v[0]) - 1] = [address_of(bytes(k)) for k in part_k]
        if self._also:  # the other chunks of an address in several
            for n in {c for held in self._also.values() for c in held}:
                out[n] = [address_of(bytes(k)) for k in self.chunk_keys(n)]
        return out

    def plan_add(self, addresses: list[str], fill: bool = True, gap: int = 0) -> Chunks:
        """Chunks to publish so that these (new, distinct) addresses join the list: the last
        chunk filled up to CHUNK (unless not `fill`), then new chunks, numbered from `gap`
        past the last (writers that collided spread out so as not to collide again)."""
        out: Chunks = {}
        rest = list(addresses)
        if not rest:
            return out
        last = max(self.sizes, default=-1)
        if fill and last >= 0 and self.sizes[last] < CHUNK:
            room = CHUNK - self.sizes[last]
            current = [address_of(bytes(k)) for k in self.chunk_keys(last)]
            out[last] = current + rest[:room]
            rest = rest[room:]
        n = last + 1 + gap
        for i in range(0, len(rest), CHUNK):
            out[n] = rest[i : i + CHUNK]
            n += 1
        return out

    def plan_remove(self, addresses: list[str]) -> Chunks:
        """Chunks to publish so that these addresses leave the list: each chunk that holds
        one, rewritten without them (an emptied chunk stays, empty: a deletion could not be
        made conditional on the version it deletes); an address in several chunks leaves
        each of them."""
        gone = keys_of(addresses)
        if not len(gone):
            return {}
        hit = self._where.get_many(gone)
        touched = {int(v) - 1 for v in hit if v}
        drop = set(gone.tolist())
        touched |= {c for k in drop & self._also.keys() for c in self._also[k]}
        out: Chunks = {}
        for n in sorted(touched):
            left = [address_of(bytes(k)) for k in self.chunk_keys(n) if bytes(k) not in drop]
            out[n] = left
        return out

    def plan_replace(self, addresses: list[str]) -> Chunks:
        """Chunks to publish so that the list becomes exactly these (distinct) addresses:
        chunks 0.. rewritten in CHUNK-sized pieces, the rest emptied."""
        out: Chunks = {}
        for n, i in enumerate(range(0, len(addresses), CHUNK)):
            out[n] = addresses[i : i + CHUNK]
        for n in self.sizes:
            if n not in out and self.sizes[n]:
                out[n] = []
        return out

    def plan_drop(self) -> Chunks:
        """Chunks to delete so that nothing is left."""
        return {n: None for n in sorted(self.sizes)}


def edit_list(
    own: list[str],
    chunks: ChunkedList,
    replace: bool,
    add: list[str],
    remove: list[str],
    gap: int = 0,
) -> tuple[list[str], Chunks]:
    """A PATCH's list edits: the record's new own list and the chunks to publish. `own` is
    the record's list after the PATCH's fields (the new list itself when `replace`). With a
    `gap` (a plan made again after a collision), added addresses go to new chunks that far
    past the last rather than filling it."""
    gone = set(remove)
    if replace:
        target = list(dict.fromkeys(a for a in own + add if a not in gone))
        return target[:CHUNK], chunks.plan_replace(target[CHUNK:])
    own = [a for a in own if a not in gone]
    plan = chunks.plan_remove(remove)
    known = set(own)
    fresh = [a for a in dict.fromkeys(add) if a not in known]
    if fresh:
        fresh = [a for a, there in zip(fresh, chunks.contains(fresh), strict=True) if not there]
    if not chunks.sizes and len(own) + len(fresh) <= CHUNK:
        return own + fresh, plan
    fill = not gap and max(chunks.sizes, default=-1) not in plan
    return own, {**plan, **chunks.plan_add(fresh, fill=fill, gap=gap)}
