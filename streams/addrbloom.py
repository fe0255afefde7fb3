"""A Bloom filter over addresses: the decode stage's first question, in 4 to 8 bits a key.

"Could this address be watched?" is asked for both sides of every transfer on a chain, so it
must be cheap, and a false "yes" only costs the tracker an exact lookup. Two probes into a
bit array of at least 32 bits per key (a power of two) answer wrongly "yes" for under 0.4%
of unwatched addresses, and never "no" for a watched one. The probes come from the
address's last 8 bytes, which for addresses derived from keccak hashes are uniform; hostile
look-alikes can at worst cost exact lookups.
"""

from __future__ import annotations

import numpy as np

from streams.addrmap import Keys

BITS_PER_KEY = 32
MIN_BITS = 1 << 20


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
