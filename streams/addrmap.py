"""Compact maps of 20-byte addresses: the watch index's storage, at 24 bytes an address.

A Python `set[str]` of addresses costs about 125 bytes each and a `dict[str, set[str]]`
over 340, so ten million watched addresses would need gigabytes. Here keys are fixed-width
binary in sorted numpy arrays, looked up by binary search: a large base level and a small
level that takes changes, merged into the base when it reaches an eighth of it (so a change
costs a small merge, and the base is rewritten only a logarithmic number of times as a list
grows). Answers are exact.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

KEY = np.dtype("S20")  # an address's 20 bytes; compared and sorted as bytes
VALUE = np.dtype(np.uint32)  # 0 means "absent"

Keys = npt.NDArray[np.bytes_]
Values = npt.NDArray[np.uint32]

MIN_DELTA = 16_384  # the small level merges into the base when larger than this and base/8


def key_of(address: str) -> bytes | None:
    """The 20 bytes of a 0x-hex address (either case); None if it is not one."""
    if len(address) != 42 or address[:2] not in ("0x", "0X"):
        return None
    try:
        raw = bytes.fromhex(address[2:])
    except ValueError:
        return None
    return raw if len(raw) == 20 else None


def keys_of(addresses: Sequence[str]) -> Keys:
    """The keys of these addresses, in order; addresses that are not 0x + 40 hex digits are
    left out. One hex decode for the lot when they are all well-formed (the usual case)."""
    if all(len(a) == 42 and a[:2] == "0x" for a in addresses):
        try:
            raw = bytes.fromhex("".join(a[2:] for a in addresses))
        except ValueError:
            raw = b""
        if len(raw) == 20 * len(addresses):
            return np.frombuffer(raw, dtype=KEY).copy()
    good = [k for k in (key_of(a) for a in addresses) if k is not None]
    return np.array(good, dtype=KEY) if good else np.empty(0, dtype=KEY)


def address_of(key: bytes) -> str:
    """The lower-case 0x-hex address of a key (numpy drops trailing zero bytes: pad back)."""
    return "0x" + key.ljust(20, b"\0").hex()


def _find(keys: Keys, probe: Keys) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Where each probe key is in sorted `keys`, and whether it is there."""
    idx = np.searchsorted(keys, probe)
    if not len(keys):
        return idx, np.zeros(len(probe), dtype=bool)
    found = keys[np.minimum(idx, len(keys) - 1)] == probe
    return idx, found & (idx < len(keys))


def _last_wins(keys: Keys, values: Values) -> tuple[Keys, Values]:
    """Sorted unique keys; where a key repeats, the value given last counts."""
    rev_k, rev_v = keys[::-1], values[::-1]
    uniq, first = np.unique(rev_k, return_index=True)
    return uniq, rev_v[first]


def _fold(
    keys: Keys, values: Values, new_k: Keys, new_v: Values, *, drop_zeros: bool
) -> tuple[Keys, Values]:
    """Sorted level (keys, values) with sorted unique (new_k, new_v) written over it: one
    pass of inserts, not a sort. With drop_zeros, keys whose value becomes 0 are removed."""
    idx, found = _find(keys, new_k)
    if found.any():
        values = values.copy()
        values[idx[found]] = new_v[found]
    fresh = ~found & (new_v != 0) if drop_zeros else ~found
    keys = np.insert(keys, idx[fresh], new_k[fresh])
    values = np.insert(values, idx[fresh], new_v[fresh])
    if drop_zeros and (new_v[found] == 0).any():
        keep = values != 0
        keys, values = keys[keep], values[keep]
    return keys, values


class AddressMap:
    """20-byte key → non-zero uint32 value; exact, about 24 bytes a key (plus, while the
    base level is rewritten, a second copy of it)."""

    def __init__(self, min_delta: int = MIN_DELTA) -> None:
        self._min_delta = min_delta
        self._bk: Keys = np.empty(0, dtype=KEY)  # base: sorted, unique, values non-zero
        self._bv: Values = np.empty(0, dtype=VALUE)
        self._dk: Keys = np.empty(0, dtype=KEY)  # changes: sorted, unique; 0 = removed
        self._dv: Values = np.empty(0, dtype=VALUE)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return sum(a.nbytes for a in (self._bk, self._bv, self._dk, self._dv))

    def get_many(self, keys: Keys) -> Values:
        """The value of each key (0 where absent)."""
        out = np.zeros(len(keys), dtype=VALUE)
        if not len(keys):
            return out
        idx, found = _find(self._bk, keys)
        out[found] = self._bv[idx[found]]
        idx, found = _find(self._dk, keys)
        out[found] = self._dv[idx[found]]
        return out

    def get(self, key: bytes) -> int:
        """The value of one key (0 where absent): a binary search of each level."""
        probe = key.rstrip(b"\0")  # how numpy hands out an S20 item
        for keys, values in ((self._dk, self._dv), (self._bk, self._bv)):
            i = bisect_left(keys, probe)
            if i < len(keys) and keys[i] == probe:
                return int(values[i])
        return 0

    def put_many(self, keys: Keys, values: Values) -> None:
        """Set each key's value (0 removes it); a key given twice takes its last value."""
        if len(keys):
            keys, values = _last_wins(keys, values.astype(VALUE, copy=False))
            self._write(keys, values, self.get_many(keys))

    def add_many(self, keys: Keys) -> int:
        """Add keys with value 1 (a set); how many were not there before."""
        if not len(keys):
            return 0
        keys = np.unique(keys)
        new = keys[self.get_many(keys) == 0]
        self._write(new, np.ones(len(new), dtype=VALUE), np.zeros(len(new), dtype=VALUE))
        return len(new)

    def add_absent(self, keys: Keys, value: int) -> Values:
        """Give `value` to those of these sorted unique keys that are absent; the value each
        key had before (0 where absent). One lookup for both."""
        old = self.get_many(keys)
        new = keys[old == 0]
        self._write(new, np.full(len(new), value, dtype=VALUE), np.zeros(len(new), dtype=VALUE))
        return old

    def _write(self, keys: Keys, values: Values, old: Values) -> None:
        """Write sorted unique keys whose present values are `old` (one lookup per change)."""
        if not len(keys):
            return
        self._n += int(np.count_nonzero((old == 0) & (values != 0)))
        self._n -= int(np.count_nonzero((old != 0) & (values == 0)))
        self._dk, self._dv = _fold(self._dk, self._dv, keys, values, drop_zeros=False)
        if len(self._dk) > max(self._min_delta, len(self._bk) >> 3):
            self._merge()

    def _merge(self) -> None:
        """Fold the small level into the base."""
        self._bk, self._bv = _fold(self._bk, self._bv, self._dk, self._dv, drop_zeros=True)
        self._dk, self._dv = np.empty(0, dtype=KEY), np.empty(0, dtype=VALUE)

    def items(self) -> tuple[Keys, Values]:
        """Every present key (sorted) and its value."""
        if len(self._dk):
            self._merge()
        return self._bk, self._bv


def pack(addresses: Sequence[object]) -> bytes | None:
    """A watch list as 20 bytes an address, when that loses nothing (every item a lower-case
    0x-hex address); None otherwise, and the list is kept as it is."""
    if not all(isinstance(a, str) and len(a) == 42 and a[:2] == "0x" for a in addresses):
        return None
    body = "".join(a[2:] for a in addresses)  # type: ignore[index]
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        return None
    return raw if raw.hex() == body else None


def unpack(raw: bytes) -> list[str]:
    """The addresses of a packed watch list, in order."""
    h = raw.hex()
    return ["0x" + h[i : i + 40] for i in range(0, len(h), 40)]


class AddressSet:
    """A set of keys as 16 `AddressMap`s by the first hex digit: the same 20-odd bytes a key,
    but rewriting a base level copies a sixteenth of the set, not all of it (the peak of a
    merge is what the process's memory has to allow for)."""

    SHARDS = 16

    def __init__(self) -> None:
        self._shards = [AddressMap() for _ in range(self.SHARDS)]

    def add_many(self, keys: Keys) -> int:
        """Add keys; how many were not there before."""
        if not len(keys):
            return 0
        shard = np.frombuffer(keys.tobytes(), dtype=np.uint8)[:: KEY.itemsize] >> 4
        return sum(self._shards[s].add_many(keys[shard == s]) for s in np.unique(shard).tolist())

    def __len__(self) -> int:
        return sum(len(s) for s in self._shards)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._shards)

    def chunks(self) -> list[Keys]:
        """Every key, as one sorted array per shard."""
        return [s.items()[0] for s in self._shards]
