"""segments: pending entries stored a batch to a record; what a reload gives back."""

from __future__ import annotations

from typing import Any, cast

from streams.segments import SEGMENT_PREFIX, Segments
from streams.tracker import Entry


def entry(key: str, block: int, required: int = 3) -> Entry:
    return cast(
        Entry,
        {
            "monitor_id": "mon_a",
            "side": "in",
            "address": "0xabc",
            "required": required,
            "transfer": {"key": key, "block_number": block, "block_hash": f"0x{block}"},
        },
    )


class Store:
    """A table as a dict, with the plan applied to it, to reload from."""

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}
        self.writes = 0

    def apply(
        self, segs: Segments, pending: dict[str, Entry], before: dict[str, Entry], head: int
    ) -> None:
        plan = segs.plan(
            pending, before, lambda e: head - e["transfer"]["block_number"] + 1 > 5 + e["required"]
        )
        for sid, entries in plan.write.items():
            self.rows[sid] = entries
            self.writes += 1
        for sid in plan.delete:
            del self.rows[sid]
            self.writes += 1

    def reload(self) -> tuple[Segments, dict[str, Entry]]:
        segs = Segments()
        return segs, segs.load(self.rows.items())


def test_a_batch_of_adds_is_one_write_and_reloads_whole() -> None:
    store, segs = Store(), Segments()
    pending = {f"k{i}": entry(f"k{i}", 10 + i) for i in range(50)}
    store.apply(segs, pending, {}, head=60)
    assert store.writes == 1
    assert all(sid.startswith(SEGMENT_PREFIX) for sid in store.rows)
    assert store.reload()[1] == pending


def test_entries_ending_by_age_are_not_rewritten_and_the_empty_segment_is_deleted() -> None:
    store, segs = Store(), Segments()
    pending = {"a": entry("a", 10), "b": entry("b", 11)}
    store.apply(segs, pending, {}, head=11)
    before = dict(pending)
    del pending["a"]  # ended by age at head 19 (19 - 10 + 1 > 5 + 3)
    store.apply(segs, pending, before, head=19)
    assert store.writes == 1  # no rewrite for an entry past finality
    before = dict(pending)
    del pending["b"]
    store.apply(segs, pending, before, head=20)
    assert store.rows == {} and store.writes == 2


def test_entries_ending_otherwise_are_rewritten_at_once() -> None:
    store, segs = Store(), Segments()
    pending = {"a": entry("a", 10), "b": entry("b", 11)}
    store.apply(segs, pending, {}, head=11)
    before = dict(pending)
    del pending["a"]  # a reorg: must not come back
    store.apply(segs, pending, before, head=12)
    assert store.reload()[1] == {"b": entry("b", 11)}


def test_an_entry_ended_by_age_that_comes_back_on_reload_is_past_finality() -> None:
    store, segs = Store(), Segments()
    pending = {"a": entry("a", 10), "b": entry("b", 15)}
    store.apply(segs, pending, {}, head=15)
    before = dict(pending)
    del pending["a"]
    store.apply(segs, pending, before, head=19)
    segs2, loaded = store.reload()
    assert set(loaded) == {"a", "b"}  # a is back, but 19 - 10 + 1 > 5 + 3: it ends again
    before = dict(loaded)
    del loaded["a"]
    store.apply(segs2, loaded, before, head=20)
    assert set(store.reload()[1]) == {"a", "b"}  # still no rewrite for it
    before = dict(loaded)
    del loaded["b"]
    store.apply(segs2, loaded, before, head=40)
    assert store.rows == {}


def test_single_entry_rows_of_earlier_versions_load_and_are_deleted() -> None:
    store = Store()
    store.rows["31337:0xtx:tx:0|0x10|mon_a|in"] = entry("old", 10)
    segs, pending = store.reload()
    assert list(pending) == ["31337:0xtx:tx:0|0x10|mon_a|in"]
    before = dict(pending)
    pending.clear()
    store.apply(segs, pending, before, head=11)  # not by age: removed at once
    assert store.rows == {}


def test_the_same_entry_saved_twice_counts_once() -> None:
    store, segs = Store(), Segments()
    pending = {"a": entry("a", 10)}
    store.apply(segs, pending, {}, head=10)
    segs = Segments()  # a cache dropped after a failure: the entry is added again
    pending2 = {"a": entry("a", 10), "b": entry("b", 11)}
    store.apply(segs, pending2, {}, head=11)
    segs3, loaded = store.reload()
    assert loaded == pending2
    before = dict(loaded)
    loaded.clear()
    store.apply(segs3, loaded, before, head=12)  # both gone, not by age
    assert store.rows == {}
