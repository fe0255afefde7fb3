"""Work that finishes in any order, released in the order it came, per partition.

The delivery agent attempts many deliveries at once and they end in any order; an offset
may only be acknowledged once every earlier message of its partition is done too, or a
commit could pass a delivery still in flight. (Faust's own tracking of out-of-order acks
can commit past a gap, faust-streaming issue #606, so it is never relied on.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Ticket(Generic[T]):
    """One piece of work: its item, its partition, how many of its parts are still
    unfinished (a message may carry several deliveries) and whether it is done."""

    __slots__ = ("done", "item", "key", "left")

    def __init__(self, item: T, key: Hashable, parts: int = 1) -> None:
        self.item = item
        self.key = key
        self.left = parts
        self.done = False


class InOrder(Generic[T]):
    """Per-key FIFO of tickets; `finish` returns the items that may now be released."""

    def __init__(self) -> None:
        self._queues: dict[Hashable, deque[Ticket[T]]] = {}
        self._open = 0

    def __len__(self) -> int:
        """Tickets added and not yet released."""
        return self._open

    def add(self, item: T, key: Hashable, parts: int = 1) -> Ticket[T]:
        """Queue an item behind everything earlier under the same key; it is done once
        `finish` was called for each of its parts."""
        ticket = Ticket(item, key, max(parts, 1))
        self._queues.setdefault(key, deque()).append(ticket)
        self._open += 1
        return ticket

    def finish(self, ticket: Ticket[T]) -> list[T]:
        """Mark one part of a ticket done; once all are, return the items, in order, that no
        earlier one holds back."""
        ticket.left -= 1
        if ticket.left > 0:
            return []
        ticket.done = True
        q = self._queues.get(ticket.key)
        out: list[T] = []
        while q and q[0].done:
            out.append(q.popleft().item)
        if q is not None and not q:
            del self._queues[ticket.key]
        self._open -= len(out)
        return out
