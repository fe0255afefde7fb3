"""streams.allocation: indices handed out in order, invalid ones skipped, and a crash after
any prefix of the writes replayed to the same index."""

from __future__ import annotations

import pytest

from streams.allocation import INVALID, Allocation, alloc_key, plan_allocation
from streams.tablewrites import WALLET_ALLOC, TableWrite

W = "wal_1"


class Wallet:
    """A wallet_alloc table as a dict, and a key whose invalid indices are given."""

    def __init__(self, invalid: frozenset[int] = frozenset()) -> None:
        self.table: dict[bytes, bytes] = {}
        self.invalid = invalid

    def address_at(self, index: int) -> str | None:
        return None if index in self.invalid else f"0x{index:040x}"

    def plan(self, user: str) -> Allocation:
        return plan_allocation(W, user, self.table.get, self.address_at)

    def apply(self, writes: list[TableWrite]) -> None:
        for w in writes:
            assert w.table == WALLET_ALLOC
            if w.value is None:
                self.table.pop(w.key, None)
            else:
                self.table[w.key] = w.value

    def allocate(self, user: str) -> int:
        plan = self.plan(user)
        self.apply(plan.writes)
        return plan.index


def test_first_index_and_its_writes_in_order() -> None:
    plan = Wallet().plan("alice")
    assert (plan.index, plan.address) == (0, f"0x{0:040x}")
    assert plan.writes == [
        TableWrite(WALLET_ALLOC, b"wal_1|i|0", b"alice"),
        TableWrite(WALLET_ALLOC, b"wal_1|u|alice", b"0"),
        TableWrite(WALLET_ALLOC, b"wal_1|n", b"1"),
    ]


def test_invalid_indices_are_marked_and_skipped() -> None:
    w = Wallet(invalid=frozenset({1, 2, 4}))
    assert w.allocate("alice") == 0
    plan = w.plan("bob")
    assert plan.index == 3
    assert plan.writes == [
        TableWrite(WALLET_ALLOC, b"wal_1|i|1", INVALID.encode()),
        TableWrite(WALLET_ALLOC, b"wal_1|i|2", INVALID.encode()),
        TableWrite(WALLET_ALLOC, b"wal_1|i|3", b"bob"),
        TableWrite(WALLET_ALLOC, b"wal_1|u|bob", b"3"),
        TableWrite(WALLET_ALLOC, b"wal_1|n", b"4"),
    ]
    w.apply(plan.writes)
    assert w.allocate("carol") == 5


def test_a_customer_keeps_their_index_and_nothing_is_written() -> None:
    w = Wallet()
    assert [w.allocate(u) for u in ("alice", "bob", "carol")] == [0, 1, 2]
    again = w.plan("bob")
    assert (again.index, again.address, again.writes) == (1, f"0x{1:040x}", [])


def test_an_index_taken_by_another_customer_is_skipped() -> None:
    """bob's request crashed before the counter moved; its replay finds bob's index and
    writes nothing, so the next customer meets index 0 taken."""
    w = Wallet()
    w.table[alloc_key(W, "i", "0")] = b"bob"
    w.table[alloc_key(W, "u", "bob")] = b"0"
    assert w.plan("bob").writes == []
    assert w.allocate("alice") == 1
    assert w.allocate("carol") == 2


def test_the_counter_never_moves_back() -> None:
    w = Wallet()
    w.table[alloc_key(W, "n")] = b"7"
    assert w.allocate("alice") == 7
    assert w.table[alloc_key(W, "n")] == b"8"


@pytest.mark.parametrize("invalid", [frozenset(), frozenset({2}), frozenset({2, 3, 5})])
def test_a_crash_after_any_prefix_of_the_writes_replays_to_the_same_index(
    invalid: frozenset[int],
) -> None:
    base = Wallet(invalid)
    for user in ("u0", "u1"):
        base.allocate(user)
    straight = Wallet(invalid)
    straight.table = dict(base.table)
    full = straight.plan("alice")
    straight.apply(full.writes)
    after = [straight.allocate(u) for u in ("bob", "carol")]
    for k in range(len(full.writes) + 1):
        crashed = Wallet(invalid)
        crashed.table = dict(base.table)
        crashed.apply(full.writes[:k])  # the crash: only the first k writes landed
        replay = crashed.plan("alice")
        assert (replay.index, replay.address) == (full.index, full.address), k
        crashed.apply(replay.writes)
        # No gap, no reuse: the next customers get what they get without the crash.
        assert [crashed.allocate(u) for u in ("bob", "carol")] == after, k
        assert crashed.table == straight.table, k


def test_replaying_the_whole_request_writes_nothing_new() -> None:
    w = Wallet(frozenset({0}))
    first = w.plan("alice")
    w.apply(first.writes)
    assert w.plan("alice").writes == []
    assert first.index == 1
