"""A commit held at one offset is said after a while, at most once a minute per partition."""

from __future__ import annotations

from streams.heldcommits import HeldCommits


def test_a_moment_is_not_worth_saying_a_long_hold_is_once_a_minute() -> None:
    h = HeldCommits(after_s=30, every_s=60)
    assert h.held("t0", 426, 0.0) is None
    assert h.held("t0", 426, 29.0) is None
    assert h.held("t0", 426, 31.0) == 31.0
    assert h.held("t0", 426, 50.0) is None  # said 19 s ago
    assert h.held("t0", 426, 92.0) == 92.0


def test_a_new_offset_or_a_release_starts_the_clock_again() -> None:
    h = HeldCommits(after_s=30, every_s=60)
    h.held("t0", 426, 0.0)
    assert h.held("t0", 500, 40.0) is None  # moved on: held again, somewhere else
    assert h.held("t0", 500, 69.0) is None
    h.released("t0")
    assert h.held("t0", 500, 100.0) is None
    assert h.held("t1", 7, 100.0) is None
    assert h.held("t1", 7, 131.0) == 31.0
