"""The nonce allocator: under reordering, replay and refusals, no gap and no double use."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.txnonce import (
    Book,
    dequeue,
    enqueue,
    finished,
    release,
    signing_done,
    start,
    take,
)


def test_first_nonce_is_the_nodes_pending_count() -> None:
    n, b = take(Book(), 7)
    assert n == 7 and b.next == 8
    n2, b = take(b, 7)  # the node has not seen ours yet: still no reuse
    assert n2 == 8 and b.next == 9


def test_a_released_nonce_is_handed_out_first() -> None:
    b = Book()
    _, b = take(b, 0)
    n1, b = take(b, 0)
    b = release(b, n1)
    assert b.free == (1,)
    n, b = take(b, 1)
    assert n == 1 and b.free == () and b.next == 2


def test_released_below_the_nodes_count_is_dropped() -> None:
    b = release(take(take(Book(), 0)[1], 0)[1], 0)
    n, b = take(b, 5)  # someone else used 0..4 from this address
    assert n == 5 and b.next == 6


def test_release_of_unknown_or_double_is_harmless() -> None:
    _, b = take(Book(), 3)
    assert release(b, 9) == b and release(Book(), 1) == Book()
    b = release(b, 3)
    assert release(b, 3) == b


def test_queue_one_at_the_signer() -> None:
    b = enqueue(enqueue(enqueue(Book(), "w1"), "w2"), "w1")
    assert b.queue == ("w1", "w2")
    head, b = start(b)
    assert head == "w1" and b.signing == "w1"
    assert start(b) == (None, b)  # one at a time
    assert enqueue(b, "w1") == b  # a replayed approval adds nothing
    b = signing_done(b, "w2", True)  # not the one at the signer: no change
    assert b.signing == "w1"
    b = signing_done(b, "w1", True)
    assert b.signing is None and b.inflight == ("w1",)
    assert enqueue(b, "w1") == b
    head, b = start(b)
    assert head == "w2"
    b = signing_done(b, "w2", False)
    assert b.inflight == ("w1",)
    assert finished(b, "w1").inflight == ()
    assert dequeue(enqueue(Book(), "w3"), "w3").queue == ()


def test_json_round_trip() -> None:
    b = Book(next=4, free=(2,), queue=("a",), signing="b", inflight=("c",))
    assert Book.from_json(b.to_json()) == b
    assert Book.from_json(None) == Book()


@settings(max_examples=500)
@given(
    st.integers(min_value=0, max_value=5),
    st.lists(st.tuples(st.booleans(), st.integers(min_value=0, max_value=3)), max_size=40),
)
def test_signed_nonces_are_consecutive_and_unique(base: int, steps: list[tuple[bool, int]]) -> None:
    """Each step prepares one withdrawal: the signer signs it (True) or refuses (False); the
    node's pending count lags behind by a random amount (it may not have seen our latest
    sends). Whatever happens, the signed nonces are base, base+1, ... each once."""
    b = Book()
    signed: list[int] = []
    for ok, lag in steps:
        node = base + max(0, len(signed) - lag)
        n, b = take(b, node)
        if ok:
            signed.append(n)
        else:
            b = release(b, n)
    assert sorted(signed) == list(range(base, base + len(signed)))
    assert len(set(signed)) == len(signed)


@settings(max_examples=300)
@given(st.lists(st.integers(min_value=0, max_value=6), max_size=30))
def test_replay_of_the_book_gives_the_same_nonce(stream: list[int]) -> None:
    """A crash before the book is saved replays the allocation from the old book: the same
    nonce comes out (so the same withdrawal is prepared at the same nonce again)."""
    b = Book()
    for node in stream:
        n1, b1 = take(b, node)
        n2, b2 = take(Book.from_json(b.to_json()), node)
        assert (n1, b1) == (n2, b2)
        b = b1
