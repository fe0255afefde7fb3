"""The nonce allocator of one sending address: no gap, no double use.

One partition of the commands topic owns each sender, and its agent keeps this book in a
table, so allocations happen one at a time, in order, and survive restarts and moves. A
nonce is given to one withdrawal at a time and comes back (`release`) only when the signer
refused it or signed something unusable: then nothing was signed for it, so it is handed out
again before any new one, which fills the hole instead of leaving a gap that would block
every later transaction. A nonce that reached a signature is never released."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Book:
    """A sender's allocator and its queue.

    `next`: the lowest nonce never handed out (None before the first allocation, when the
    node's pending count is the start); `free`: handed out and given back, lowest first;
    `queue`: approved withdrawals waiting for their nonce, in approval order; `signing`: the
    withdrawal at the signer (one at a time, so a refusal never strands a higher nonce);
    `inflight`: withdrawals with a transaction, followed until final."""

    next: int | None = None
    free: tuple[int, ...] = ()
    queue: tuple[str, ...] = ()
    signing: str | None = None
    inflight: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "next": self.next,
            "free": list(self.free),
            "queue": list(self.queue),
            "signing": self.signing,
            "inflight": list(self.inflight),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Book:
        if not d:
            return cls()
        return cls(
            next=d.get("next"),
            free=tuple(int(n) for n in d.get("free") or ()),
            queue=tuple(str(i) for i in d.get("queue") or ()),
            signing=d.get("signing"),
            inflight=tuple(str(i) for i in d.get("inflight") or ()),
        )


def take(book: Book, node_pending: int) -> tuple[int, Book]:
    """The nonce for the next transaction. `node_pending` is the node's transaction count
    for the sender including its pool ("pending", never "latest", which would hand out a
    nonce still in the pool again). Released nonces come first; one below the node's count
    was used by a transaction of someone else and is dropped."""
    free = sorted(n for n in book.free if n >= node_pending)
    if free:
        return free[0], replace(book, free=tuple(free[1:]))
    n = max(book.next or 0, node_pending)
    return n, replace(book, next=n + 1, free=())


def release(book: Book, nonce: int) -> Book:
    """Give back a nonce that nothing was signed for."""
    if book.next is None or nonce >= book.next or nonce in book.free:
        return book
    return replace(book, free=tuple(sorted((*book.free, nonce))))


def enqueue(book: Book, withdrawal_id: str) -> Book:
    """An approved withdrawal waits its turn (a replayed approval adds nothing)."""
    if withdrawal_id in book.queue or withdrawal_id == book.signing:
        return book
    if withdrawal_id in book.inflight:
        return book
    return replace(book, queue=(*book.queue, withdrawal_id))


def dequeue(book: Book, withdrawal_id: str) -> Book:
    """A waiting withdrawal left the queue (cancelled)."""
    return replace(book, queue=tuple(i for i in book.queue if i != withdrawal_id))


def start(book: Book) -> tuple[str | None, Book]:
    """The withdrawal to send to the signer now: the queue's head when none is signing."""
    if book.signing is not None or not book.queue:
        return None, book
    head, rest = book.queue[0], book.queue[1:]
    return head, replace(book, queue=rest, signing=head)


def signing_done(book: Book, withdrawal_id: str, sent: bool) -> Book:
    """The signer answered for the withdrawal at the signer: with a transaction to follow
    (`sent`) or without one (refused, unusable)."""
    if book.signing != withdrawal_id:
        return book
    inflight = (*book.inflight, withdrawal_id) if sent else book.inflight
    return replace(book, signing=None, inflight=inflight)


def finished(book: Book, withdrawal_id: str) -> Book:
    """A followed withdrawal is final (deep enough): stop following it."""
    return replace(book, inflight=tuple(i for i in book.inflight if i != withdrawal_id))
