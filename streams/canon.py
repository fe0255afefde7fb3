"""The follower's cursor: the last published block and the canonical hashes below it (pure)."""

from __future__ import annotations

from typing import Any, TypedDict


class Cursor(TypedDict):
    """Last block published for a chain, with the recent canonical (number, hash) pairs."""

    number: int
    hash: str
    canon: list[list[Any]]


def start_cursor(number: int, block_hash: str) -> Cursor:
    """A cursor whose next block is number + 1."""
    return Cursor(number=number, hash=block_hash, canon=[[number, block_hash]])


def follows(cursor: Cursor, number: int, parent_hash: str) -> bool:
    """Does a block with this number and parent hash extend the cursor's chain?"""
    return number == cursor["number"] + 1 and parent_hash == cursor["hash"]


def advance(cursor: Cursor, number: int, block_hash: str, keep: int) -> Cursor:
    """The cursor after publishing block (number, block_hash); keeps `keep` hashes."""
    canon = [*cursor["canon"], [number, block_hash]][-keep:]
    return Cursor(number=number, hash=block_hash, canon=canon)


def fork_point(cursor: Cursor, node_hashes: dict[int, str | None]) -> int | None:
    """Highest block number where our canonical hash equals the node's; None if none does
    within the window (a reorg deeper than what we keep)."""
    for number, h in reversed(cursor["canon"]):
        if node_hashes.get(number) == h:
            return int(number)
    return None


def rewind(cursor: Cursor, fork: int) -> tuple[Cursor, list[tuple[int, str]]]:
    """The cursor rolled back to the fork point, and the orphaned (number, hash) pairs."""
    keep = [c for c in cursor["canon"] if c[0] <= fork]
    orphaned = [(int(n), str(h)) for n, h in cursor["canon"] if n > fork]
    top = keep[-1]
    return Cursor(number=int(top[0]), hash=str(top[1]), canon=keep), orphaned
