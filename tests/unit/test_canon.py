"""canon: the follower's cursor over the canonical chain (pure)."""

from __future__ import annotations

from streams.canon import advance, follows, fork_point, rewind, start_cursor


def h(n: int, fork: str = "a") -> str:
    return "0x" + fork * 2 + f"{n:062x}"


def cursor_at(top: int, keep: int = 5, start: int = 0):
    c = start_cursor(start, h(start))
    for n in range(start + 1, top + 1):
        c = advance(c, n, h(n), keep)
    return c


def test_start_cursor() -> None:
    c = start_cursor(100, h(100))
    assert c == {"number": 100, "hash": h(100), "canon": [[100, h(100)]]}


def test_follows() -> None:
    c = start_cursor(100, h(100))
    assert follows(c, 101, h(100))
    assert not follows(c, 101, h(100, "b"))  # another parent: a fork
    assert not follows(c, 102, h(100))  # a gap
    assert not follows(c, 100, h(99))  # the same height again


def test_advance_keeps_a_window() -> None:
    c = cursor_at(10, keep=4)
    assert c["number"] == 10 and c["hash"] == h(10)
    assert c["canon"] == [[n, h(n)] for n in range(7, 11)]


def test_advance_does_not_mutate() -> None:
    c = start_cursor(1, h(1))
    c2 = advance(c, 2, h(2), 5)
    assert c["canon"] == [[1, h(1)]]
    assert c2["canon"] == [[1, h(1)], [2, h(2)]]


def test_fork_point_is_the_highest_agreeing_block() -> None:
    c = cursor_at(10, keep=5)  # canon 6..10
    node = {6: h(6), 7: h(7), 8: h(8), 9: h(9, "b"), 10: h(10, "b")}
    assert fork_point(c, node) == 8


def test_fork_point_no_fork() -> None:
    c = cursor_at(10, keep=5)
    assert fork_point(c, {n: h(n) for n in range(6, 11)}) == 10


def test_fork_point_missing_hashes_do_not_match() -> None:
    c = cursor_at(10, keep=5)
    assert fork_point(c, {7: h(7), 8: None, 9: None, 10: None}) == 7


def test_fork_deeper_than_the_window_is_none() -> None:
    c = cursor_at(10, keep=5)
    assert fork_point(c, {n: h(n, "b") for n in range(0, 11)}) is None
    assert fork_point(c, {}) is None


def test_rewind() -> None:
    c = cursor_at(10, keep=5)
    back, orphaned = rewind(c, 8)
    assert back == {"number": 8, "hash": h(8), "canon": [[6, h(6)], [7, h(7)], [8, h(8)]]}
    assert orphaned == [(9, h(9)), (10, h(10))]
    # the new branch follows the rewound cursor
    assert follows(back, 9, h(8))
    assert not follows(c, 9, h(8))


def test_rewind_to_top_orphans_nothing() -> None:
    c = cursor_at(10, keep=5)
    back, orphaned = rewind(c, 10)
    assert orphaned == [] and back == c


def test_full_reorg_cycle() -> None:
    c = cursor_at(10, keep=6)
    node = {n: (h(n) if n <= 7 else h(n, "b")) for n in range(0, 12)}
    fork = fork_point(c, node)
    assert fork == 7
    c, orphaned = rewind(c, fork)
    assert [n for n, _ in orphaned] == [8, 9, 10]
    for n in range(8, 12):
        assert follows(c, n, node[n - 1])
        c = advance(c, n, node[n], 6)
    assert c["number"] == 11 and fork_point(c, node) == 11
