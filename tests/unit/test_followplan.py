"""streams.followplan: the reorg marker the follower publishes and its cursor record."""

from __future__ import annotations

import hashlib

import orjson

from streams.canon import start_cursor
from streams.followplan import MAX_EXTRA, NextBlock, cursor_write, reorg_marker
from streams.tablewrites import CURSORS, TableWrite

H8, H9 = "0x" + "08" * 32, "0x" + "09" * 32


def test_reorg_marker_names_the_fork_and_every_orphaned_block() -> None:
    marker = reorg_marker("local", 31337, 7, [(8, H8), (9, H9)])
    digest = hashlib.sha256(f"local:7:{H8},{H9}".encode()).hexdigest()[:32]
    assert marker == {
        "type": "reorg",
        "id": f"reorg_{digest}",
        "chain": "local",
        "chain_id": 31337,
        "fork_number": 7,
        "depth": 2,
        "orphaned": [{"number": 8, "hash": H8}, {"number": 9, "hash": H9}],
    }


def test_reorg_marker_id_is_stable_and_distinct() -> None:
    orphaned = [(8, H8), (9, H9)]
    same = reorg_marker("local", 31337, 7, list(orphaned))["id"]
    assert reorg_marker("local", 31337, 7, orphaned)["id"] == same  # a republished marker
    assert reorg_marker("local", 31337, 7, orphaned[:1])["id"] != same
    assert reorg_marker("other", 31337, 7, orphaned)["id"] != same
    assert reorg_marker("local", 31337, 6, orphaned)["id"] != same


def test_cursor_write() -> None:
    cur = start_cursor(5, "0x05")
    assert cursor_write("local", cur) == TableWrite(CURSORS, b"local", orjson.dumps(cur))


# ---------------------------------------------------------------- when to ask for the next block


def test_next_block_unknown_until_one_block_arrives_between_two_polls() -> None:
    nb = NextBlock()
    assert nb.ask_at(0.0, 0.2) is None
    nb.polled(0.0, 10, 100)
    assert nb.ask_at(0.1, 0.2) is None  # a first poll: when block 10 came is not known
    nb.polled(0.2, 10, None)
    nb.polled(0.4, 12, 102)  # two at once: still unknown
    assert nb.ask_at(0.5, 0.2) is None


def test_next_block_window_follows_the_gap_and_narrows() -> None:
    """Blocks every second, appearing at k + 0.55 s; regular polls every 0.2 s."""
    nb = NextBlock()
    arrive = 0.55
    polls: list[float] = []
    t, head = 0.0, 0
    while t < 6.0:
        head_now = int(max(0.0, t - arrive)) + 1 if t >= arrive else 0
        ts = 1000 + head_now if head_now != head or not polls else None
        nb.polled(t, head_now, ts)
        head = head_now
        polls.append(t)
        extra = nb.ask_at(t, 0.2)
        regular = (int(t / 0.2 + 1e-9) + 1) * 0.2
        t = min(extra, regular) if extra is not None else regular
    assert nb.gap_s == 1.0
    # Once locked on, each block is seen within two steps of appearing.
    seen = []
    for k in range(3, 6):
        at = k + arrive
        seen.append(min(p for p in polls if p >= at) - at)
    assert max(seen) <= 0.045, seen
    # And the node is asked a bounded number of times a block.
    assert len([p for p in polls if 4.0 <= p < 5.0]) <= 5 + MAX_EXTRA


def test_next_block_leaves_fast_chains_to_the_ticks() -> None:
    nb = NextBlock()
    nb.polled(0.0, 10, 100)
    nb.polled(0.2, 11, 100)  # same-second timestamps: no gap known
    assert nb.ask_at(0.3, 0.2) is None
    nb.polled(0.4, 12, 101)
    nb.polled(0.6, 13, 101)
    assert nb.gap_s is None or nb.ask_at(0.7, 0.5) is None


def test_next_block_never_asks_in_the_past_or_beyond_the_window() -> None:
    nb = NextBlock()
    nb.polled(0.0, 1, 10)
    nb.polled(0.2, 2, 22)  # 12 s blocks, appeared in (0.0, 0.2]
    assert nb.ask_at(1.0, 2.0) is None  # the window starts ~11.76 s: a later tick will ask
    first = nb.ask_at(10.0, 2.0)
    assert first is not None and 11.5 < first < 12.0
    t = nb.ask_at(12.0, 2.0)
    assert t is not None and t > 12.0
    assert nb.ask_at(12.6, 2.0) is None  # past the window: the regular ticks again
