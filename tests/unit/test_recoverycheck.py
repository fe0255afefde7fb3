"""Which table partitions are rebuilt before recovery, and the changelog's true end."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.recoverycheck import AHEAD, BEHIND_START, to_rebuild, true_last


def test_a_store_past_the_changelogs_last_offset_is_rebuilt_with_its_figures() -> None:
    plan = to_rebuild({"t-0": 61, "t-1": 60}, {"t-0": 60, "t-1": 60}, {"t-0": 0, "t-1": 0})
    assert [(r.key, r.reason, r.persisted, r.last) for r in plan] == [("t-0", AHEAD, 61, 60)]
    assert "61" in plan[0].describe() and "60" in plan[0].describe()


def test_a_store_whose_next_record_was_deleted_is_rebuilt() -> None:
    # The store holds up to 9; the changelog now starts at 20: 10..19 are gone.
    plan = to_rebuild({"a": 9}, {"a": 40}, {"a": 20})
    assert [(r.reason, r.start) for r in plan] == [(BEHIND_START, 20)]
    assert "20" in plan[0].describe()
    # Up to 19 held and 20 is the first record: nothing missing.
    assert to_rebuild({"a": 19}, {"a": 40}, {"a": 20}) == []


def test_new_stores_and_unknown_figures_are_left_alone() -> None:
    assert to_rebuild({"new": None, "neg": -1}, {"new": 5, "neg": 5}, {"new": 0, "neg": 0}) == []
    assert to_rebuild({"a": 99}, {"a": None}, {"a": 0}) == []
    assert to_rebuild({"a": 99}, {}, {"a": 0}) == []


def test_an_emptied_changelog_rebuilds_any_store_that_held_something() -> None:
    # A re-created changelog topic: empty (last offset -1), the store was at 0 or beyond.
    assert [r.reason for r in to_rebuild({"a": 0}, {"a": -1}, {"a": 0})] == [AHEAD]


@given(
    persisted=st.integers(min_value=0, max_value=10_000),
    start=st.integers(min_value=0, max_value=10_000),
    length=st.integers(min_value=0, max_value=10_000),
)
def test_rebuild_exactly_when_the_store_is_not_within_what_the_changelog_can_continue(
    persisted: int, start: int, length: int
) -> None:
    last = start + length - 1  # -1 past start when empty
    plan = to_rebuild({"p": persisted}, {"p": last}, {"p": start})
    # Reading on from persisted + 1 meets every record of the changelog after it, and only
    # records that exist, exactly when start <= persisted + 1 and persisted <= last.
    consistent = start <= persisted + 1 and persisted <= last
    assert (plan == []) == consistent


def test_the_true_end_is_the_larger_of_list_offsets_and_a_fetchs_high_watermark() -> None:
    # The embedded broker: ListOffsets gives the last batch's base offset + 1 (minus one: 11),
    # a fetch the true high watermark 21 (last offset 20).
    assert true_last(11, 21) == 20
    assert true_last(20, 21) == 20  # Kafka: both agree
    assert true_last(20, None) == 20  # no fetch answer: ListOffsets alone
    assert true_last(None, 5) == 4
    assert true_last(None, None) is None
    assert true_last(-1, 0) == -1  # an empty partition


async def test_a_failed_fetch_of_the_high_watermarks_leaves_listoffsets_alone() -> None:
    from faust_app.recovery import _Probe

    probe = _Probe("127.0.0.1:1")

    async def broken(listed: dict[object, int]) -> dict[object, int]:
        raise ConnectionError("no broker")

    probe.fetch = broken  # type: ignore[assignment]
    assert await probe({"tp": 5}) == {}
