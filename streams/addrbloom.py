"""A Bloom filter over addresses: the decode stage's first question, in 4 to 8 bits a key.

"Could this address be watched?" is asked for both sides of every transfer on a chain, so it
must be cheap, and a false "yes" only costs the tracker an exact lookup. Two probes into a
bit array of at least 32 bits per key (a power of two) answer wrongly "yes" for under 0.4%
of unwatched addresses, and never "no" for a watched one. The probes come from the
address's last 8 bytes, which for addresses derived from keccak hashes are uniform; hostile
look-alikes can at worst cost exact lookups.

A block asks a thousand times; `tails` and `AddressBloom.maybe_tails` ask for a whole list of
addresses (or log topic words) with a few numpy operations instead of a method call, an
`int()` and two byte reads each.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from streams.addrmap import Keys

BITS_PER_KEY = 32
MIN_BITS = 1 << 20


TAIL = 16  # hex digits of an address the probes come from (its last 8 bytes)


def tails(values: Sequence[object], width: int) -> npt.NDArray[np.uint64] | None:
    """The number in the last 16 characters of each value, as `int(value[-16:], 16)` reads
    it, when every value is a string of exactly `width` (>= 16) ASCII characters that ends
    in 16 hex digits; None otherwise (the caller then asks value by value)."""
    n = len(values)
    if not n or set(map(len, values)) != {width}:  # type: ignore[arg-type]
        return None
    try:
        raw = "".join(values).encode("ascii")  # type: ignore[arg-type]
    except (TypeError, UnicodeEncodeError):
        return None
    if len(raw) != n * width:
        return None
    ends = np.frombuffer(raw, dtype=np.uint8).reshape(n, width)[:, width - TAIL :].tobytes()
    try:  # fromhex skips whitespace: a count short of 8 a value means it was not all hex
        packed = bytes.fromhex(ends.decode("ascii"))
    except ValueError:
        return None
    if len(packed) != 8 * n:
        return None
    return np.frombuffer(packed, dtype=">u8").astype(np.uint64)


def _size_for(n: int) -> int:
    bits = MIN_BITS
    while bits < BITS_PER_KEY * n:
        bits <<= 1
    return bits


class AddressBloom:
    """May-contain over 0x-hex address strings; built from and extended with binary keys."""

    __slots__ = ("_bits", "_capacity", "_mask")

    def __init__(self, keys: Keys | None = None, expected: int = 0) -> None:
        n = max(expected, 0 if keys is None else len(keys))
        size = _size_for(n)
        self._bits = bytearray(size >> 3)
        self._mask = size - 1
        self._capacity = size // BITS_PER_KEY
        if keys is not None:
            self.add(keys)

    @property
    def capacity(self) -> int:
        """Keys it holds before its false-positive rate passes the bound (then rebuild)."""
        return self._capacity

    @property
    def nbytes(self) -> int:
        return len(self._bits)

    def add(self, keys: Keys) -> None:
        """Set the probe bits of these keys."""
        if not len(keys):
            return
        raw = np.frombuffer(keys.tobytes(), dtype=np.uint8).reshape(len(keys), 20)
        tail = raw[:, 12:].copy().view(">u8").ravel().astype(np.uint64)
        mask = np.uint64(self._mask)
        bits = np.frombuffer(self._bits, dtype=np.uint8)
        for probe in (tail & mask, (tail >> np.uint64(32)) & mask):
            bit = np.left_shift(np.uint8(1), (probe & np.uint64(7)).astype(np.uint8))
            np.bitwise_or.at(bits, probe >> np.uint64(3), bit)

    def maybe_tails(self, tail: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        """For each address's tail (from `tails`), what `in` answers for the address. The
        second probe is read only for the few that pass the first (as `in` does): with ten
        million keys the bits are 40 MB, and each read is a cache miss."""
        bits = np.frombuffer(self._bits, dtype=np.uint8)
        mask = np.uint64(self._mask)
        probe = tail & mask
        out: npt.NDArray[np.bool_] = (bits[probe >> 3] >> (probe & 7).astype(np.uint8)) & 1 != 0
        passed = np.flatnonzero(out)
        if len(passed):
            probe = (tail[passed] >> np.uint64(32)) & mask
            out[passed] = (bits[probe >> 3] >> (probe & 7).astype(np.uint8)) & 1 != 0
        return out

    def __contains__(self, address: object) -> bool:
        """Might this 0x-hex address be among the keys? (False for anything else)"""
        try:
            h = int(address[-16:], 16)  # type: ignore[index]
        except (TypeError, ValueError):
            return False
        bits, mask = self._bits, self._mask
        i = h & mask
        if not bits[i >> 3] >> (i & 7) & 1:
            return False
        i = (h >> 32) & mask
        return bool(bits[i >> 3] >> (i & 7) & 1)
