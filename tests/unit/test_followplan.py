"""streams.followplan: the reorg marker the follower publishes and its cursor record."""

from __future__ import annotations

import hashlib

import orjson

from streams.canon import start_cursor
from streams.followplan import cursor_write, reorg_marker
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
