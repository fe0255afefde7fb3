"""The address allocator's decision: which index a customer of a wallet gets, and the
wallet_alloc table writes that record it.

Table keys of one wallet (written in this order, before any record is published):
  <wallet>|i|<index>  → user_ref, or INVALID for an index that gives no key (the index is
                        taken)
  <wallet>|u|<user>   → index (the customer has it)
  <wallet>|n          → the next index to try
The planner only reads (through `lookup`) and returns the writes; the agent applies them in
order. A crash after any prefix of them leaves a table from which the same request plans the
same index again: a customer's own `i` entry is finished rather than skipped, a taken index
is skipped, and `n` only ever moves forward, so there is no gap and no reuse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from streams.tablewrites import WALLET_ALLOC, Lookup, TableWrite

INVALID = "\x00invalid"  # marks an index that gives no key (BIP-32: skip it)


@dataclass(frozen=True, slots=True)
class Allocation:
    """The customer's index and address, and the writes to apply (none if already given)."""

    index: int
    address: str
    writes: list[TableWrite]


def alloc_key(wallet_id: str, *parts: str) -> bytes:
    """A wallet_alloc table key: the wallet id and the parts, joined by '|'."""
    return "|".join((wallet_id, *parts)).encode()


def plan_allocation(
    wallet_id: str, user_ref: str, lookup: Lookup, address_at: Callable[[int], str | None]
) -> Allocation:
    """The index and address for (wallet_id, user_ref): the one already given, or the next
    free one. `address_at(i)` is the address at index i, None if i gives no key."""
    have = lookup(alloc_key(wallet_id, "u", user_ref))
    if have is not None:
        index = int(have.decode())
        return Allocation(index, _address(address_at, index), [])
    raw_n = lookup(alloc_key(wallet_id, "n"))
    n = int(raw_n.decode()) if raw_n else 0
    writes: list[TableWrite] = []
    mine = user_ref.encode()
    while True:
        holder = lookup(alloc_key(wallet_id, "i", str(n)))
        if holder == mine:  # taken for this customer before a crash: finish it
            address = _address(address_at, n)
            break
        if holder is None:
            found = address_at(n)
            if found is not None:
                address = found
                writes.append(TableWrite(WALLET_ALLOC, alloc_key(wallet_id, "i", str(n)), mine))
                break
            writes.append(
                TableWrite(WALLET_ALLOC, alloc_key(wallet_id, "i", str(n)), INVALID.encode())
            )
        n += 1
    writes.append(TableWrite(WALLET_ALLOC, alloc_key(wallet_id, "u", user_ref), str(n).encode()))
    writes.append(TableWrite(WALLET_ALLOC, alloc_key(wallet_id, "n"), str(n + 1).encode()))
    return Allocation(n, address, writes)


def _address(address_at: Callable[[int], str | None], index: int) -> str:
    address = address_at(index)
    if address is None:  # recorded as valid, so the key changed under the wallet
        raise ValueError(f"index {index} recorded for a customer gives no key")
    return address
