"""Long watch lists in chunks: the API's copy of a monitor's chunks against a plain model, the
PATCH list edits, and what a chunk record makes the worker publish."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.addrmap import address_of
from streams.monitorlist import (
    CHUNK,
    ChunkedList,
    Chunks,
    chunk_key,
    chunk_label,
    chunk_version,
    edit_list,
    label_monitor,
    read_chunk,
    split_chunk_key,
    stored_chunk,
)
from streams.monitorplan import plan_chunk

POOL = [f"0x{i:040x}" for i in range(1, 40)] + [f"0x{'ab' * 19}{i:02x}" for i in range(20)]


def apply(lst: ChunkedList, plan: Chunks) -> None:
    """What the topic does with a plan: each chunk replaced or deleted."""
    for n, a in plan.items():
        lst.put(n, a)


def whole(lst: ChunkedList) -> list[str]:
    return [a for part in lst.grouped().values() for a in part]


def test_keys_and_labels() -> None:
    assert split_chunk_key(chunk_key("mon_a-b_c", 12)) == ("mon_a-b_c", 12)
    for bad in (b"mon_a", b"mon_a:", b"mon_a:01", b"mon_a:-1", b"x:1", b"mon_a:1:2", b"mon_a:1x"):
        assert split_chunk_key(bad) is None, bad
    assert label_monitor(chunk_label("mon_x", 3)) == "mon_x"
    assert label_monitor("mon_x") == "mon_x"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "remove", "replace"]),
            st.lists(st.sampled_from(POOL), max_size=25),
        ),
        max_size=12,
    )
)
def test_plans_keep_the_list_a_model_says(ops: list[tuple[str, list[str]]]) -> None:
    """Adds, removes and replaces planned and applied (small chunks, so they roll over):
    the chunks hold exactly the model's set, each address once, no chunk over CHUNK."""
    import streams.monitorlist as ml

    saved = ml.CHUNK
    ml.CHUNK = 7
    try:
        lst, model = ChunkedList(), set[str]()
        for op, addrs in ops:
            distinct = list(dict.fromkeys(addrs))
            if op == "add":
                fresh = [
                    a
                    for a, there in zip(distinct, lst.contains(distinct), strict=False)
                    if not there
                ]
                apply(lst, lst.plan_add(fresh))
                model |= set(distinct)
            elif op == "remove":
                apply(lst, lst.plan_remove(distinct))
                model -= set(distinct)
            else:
                apply(lst, lst.plan_replace(distinct))
                model = set(distinct)
            listed = whole(lst)
            assert sorted(listed) == sorted(model)
            assert len(lst) == len(model) == sum(lst.sizes.values())
            assert all(0 <= s <= 7 for s in lst.sizes.values())
            assert lst.contains(POOL) == [a in model for a in POOL]
            paged: list[str] = []
            while True:
                page = lst.page(paged[-1] if paged else "", 5)
                if not page:
                    break
                paged += page
            assert paged == sorted(model)
    finally:
        ml.CHUNK = saved


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4),
            st.none() | st.lists(st.sampled_from(POOL), max_size=12),
        ),
        max_size=30,
    )
)
def test_chunks_that_share_addresses_are_all_known(
    puts: list[tuple[int, list[str] | None]],
) -> None:
    """The view may hold an address in two chunks for a while (a refused write folded before
    the kept version comes back, the refused request's addresses already in another chunk):
    each chunk's content, the list, and a removal stay what a model of sets says, whatever
    the order the chunks come in."""
    lst = ChunkedList()
    model: dict[int, set[str]] = {}
    for n, addresses in puts:
        lst.put(n, addresses)
        if addresses is None:
            model.pop(n, None)
        else:
            model[n] = set(addresses)
    union = set().union(*model.values())
    assert len(lst) == len(union)
    assert lst.page("", 1000) == sorted(union)
    assert lst.contains(POOL) == [a in union for a in POOL]
    assert lst.sizes == {n: len(a) for n, a in model.items()}
    for n, a in model.items():
        assert [address_of(bytes(k)) for k in lst.chunk_keys(n)] == sorted(a)
    assert {n: set(a) for n, a in lst.grouped().items()} == {n: a for n, a in model.items() if a}
    gone = POOL[::3]
    plan = lst.plan_remove(gone)
    assert set(plan) == {n for n, a in model.items() if a & set(gone)}
    for n, left in plan.items():
        assert left is not None and set(left) == model[n] - set(gone)


def test_adding_fills_the_last_chunk_then_opens_new_ones() -> None:
    lst = ChunkedList()
    apply(lst, lst.plan_add([f"0x{i:040x}" for i in range(1, CHUNK - 2)]))
    assert lst.sizes == {0: CHUNK - 3}
    plan = lst.plan_add([f"0x{i:040x}" for i in range(CHUNK, CHUNK + 10)])
    assert sorted(plan) == [0, 1] and len(plan[0] or []) == CHUNK and len(plan[1] or []) == 7
    apply(lst, plan)
    assert lst.sizes == {0: CHUNK, 1: 7} and len(lst) == CHUNK + 7
    no_fill = lst.plan_add(["0x" + "ee" * 20], fill=False)
    assert list(no_fill) == [2]


def test_a_removal_rewrites_only_the_chunks_that_hold_it() -> None:
    lst = ChunkedList()
    apply(lst, {0: POOL[:3], 1: POOL[3:6], 2: [POOL[6]]})
    plan = lst.plan_remove([POOL[4], POOL[6], "0x" + "99" * 20])
    assert plan == {1: sorted([POOL[3], POOL[5]]), 2: []}
    assert lst.plan_remove(["0x" + "99" * 20]) == {}
    assert lst.plan_drop() == {0: None, 1: None, 2: None}


def test_a_chunk_that_names_an_address_twice_or_badly_is_read_as_the_worker_reads_it() -> None:
    lst = ChunkedList()
    lst.put(0, [POOL[0], POOL[0].upper().replace("0X", "0x"), "nope", POOL[1]])
    assert lst.sizes == {0: 2} and whole(lst) == sorted(POOL[:2])
    lst.put(0, None)
    assert len(lst) == 0 and lst.sizes == {}


def test_edit_list_keeps_short_lists_in_the_record() -> None:
    own, plan = edit_list([POOL[0], POOL[1]], ChunkedList(), False, [POOL[2], POOL[0]], [POOL[1]])
    assert own == [POOL[0], POOL[2]] and plan == {}


def test_edit_list_sends_a_growing_list_to_chunks_and_never_repeats_an_address() -> None:
    lst = ChunkedList()
    many = [f"0x{i:040x}" for i in range(1, CHUNK + 5)]
    own, plan = edit_list([], lst, False, many, [])
    assert own == [] and sorted(plan) == [0, 1]
    apply(lst, plan)
    own, plan = edit_list(own, lst, False, [*many[:3], POOL[-1]], [])
    assert own == [] and plan == {1: [*sorted(many[CHUNK:]), POOL[-1]]}
    apply(lst, plan)
    own, plan = edit_list(own, lst, False, [POOL[-2]], [many[0], POOL[-1]])
    # Chunk 1 is rewritten by the removal, so the add opens chunk 2 instead of filling it.
    assert plan[0] == sorted(many[1:CHUNK]) and plan[1] == sorted(many[CHUNK:])
    assert plan[2] == [POOL[-2]]


def test_edit_list_replaces_the_whole_list() -> None:
    lst = ChunkedList()
    apply(lst, {0: POOL[:3], 1: POOL[3:6]})
    target = [f"0x{i:040x}" for i in range(1, CHUNK + 3)]
    own, plan = edit_list(target, lst, True, [POOL[-1]], [target[0]])
    assert own == target[1 : CHUNK + 1]
    assert plan == {0: [*target[CHUNK + 1 :], POOL[-1]], 1: []}


def test_a_chunk_plan_watches_under_the_chunks_label_without_a_config() -> None:
    key = chunk_key("mon_x", 2)
    old = {"monitor_id": "mon_x", "chunk": 2, "chain": "local", "addresses": POOL[:2]}
    new = {**old, "addresses": POOL[1:4]}
    plan = plan_chunk(key, old, new, 4)
    transfers = [orjson.loads(m.value or b"") for m in plan.steps[0]]
    assert all(m["t"] == "watch" and m["id"] == "mon_x#2" for m in transfers)
    added = {a for m in transfers for _, a in m["add"]}
    removed = {a for m in transfers for _, a in m["remove"]}
    assert added == set(POOL[2:4]) and removed == {POOL[0]}
    assert [m.topic for m in plan.steps[1]] == ["blocks"]
    ack = plan.steps[-1][0]
    assert ack.topic == "monitors.applied" and ack.key == key
    assert plan.write.table == "monitor_chunks" and orjson.loads(plan.write.value or b"") == new
    gone = plan_chunk(key, None, None, 4)  # a tombstone of a chunk never seen: just the ack
    assert [s[0].topic for s in gone.steps] == ["monitors.applied"] and gone.write.value is None


def test_a_chunk_written_over_another_version_is_refused_and_the_kept_one_put_back() -> None:
    key = chunk_key("mon_x", 0)
    kept = {"monitor_id": "mon_x", "chunk": 0, "chain": "local", "addresses": POOL[:2]}
    over_kept = {**kept, "addresses": POOL[:3], "base": chunk_version(kept)}
    plan = plan_chunk(key, kept, over_kept, 4)  # based on what is there: applied
    assert plan.steps[-1][0].topic == "monitors.applied"
    assert orjson.loads(plan.write.value or b"") == stored_chunk(over_kept)
    stale = {**kept, "addresses": POOL[5:7], "base": chunk_version(None)}
    plan = plan_chunk(key, kept, stale, 4)
    again, ack = (orjson.loads(s[0].value or b"") for s in plan.steps)
    assert [s[0].topic for s in plan.steps] == ["monitors.addresses", "monitors.applied"]
    assert again == {**kept, "base": chunk_version(kept)}  # conditional on itself
    assert ack == {
        "id": "mon_x:0",
        "digest": chunk_version(kept),
        "refused": chunk_version(stored_chunk(stale)),
    }
    assert orjson.loads(plan.write.value or b"") == kept  # unchanged
    # Over no chunk: an empty one is put back (a null could undo a create accepted meanwhile).
    plan = plan_chunk(key, None, {**stale, "base": chunk_version(kept)}, 4)
    again = orjson.loads(plan.steps[0][0].value or b"")
    assert again["addresses"] == [] and again["base"] == "none" and plan.write.value is None
    # Without a base a write is unconditional, as a hand-published one.
    assert orjson.loads(plan_chunk(key, kept, stored_chunk(stale), 4).write.value or b"") == (
        stored_chunk(stale)
    )


def test_the_view_remembers_each_writes_outcome() -> None:
    from core.settings import Settings
    from views.monitors import MonitorsView

    s = Settings(chains=[{"name": "local", "chain_id": 31337, "rpc_urls": ["http://x:1"]}])
    view = MonitorsView(s)
    rec = {"monitor_id": "mon_x", "chunk": 0, "chain": "local", "addresses": POOL[:2]}
    view.apply(s.topic("monitors.addresses"), b"mon_x:0", orjson.dumps({**rec, "base": "none"}), 0)
    assert view.lists["mon_x"].version(0) == chunk_version(rec)
    ok = {"id": "mon_x:0", "digest": chunk_version(rec)}
    no = {"id": "mon_x:0", "digest": chunk_version(rec), "refused": "ab" * 32}
    for ack in (ok, no):
        view.apply(s.topic("monitors.applied"), b"mon_x:0", orjson.dumps(ack), 0)
    assert view.outcomes[("mon_x:0", chunk_version(rec))] is True
    assert view.outcomes[("mon_x:0", "ab" * 32)] is False
    assert view.applied["mon_x:0"] == chunk_version(rec)


def test_a_chunk_record_is_refused_with_the_reason_for_each_kind_of_bad_input() -> None:
    good = {"monitor_id": "mon_x", "chunk": 3, "chain": "local", "addresses": POOL[:2]}
    assert read_chunk(b"mon_x:3", good, {"local"}) == {**good, "base": None}
    bad: list[tuple[bytes, object, str]] = [
        (b"mon_x", good, "key"),
        (b"mon_x:4", good, "monitor_id:chunk"),
        (b"mon_y:3", good, "monitor_id:chunk"),
        (b"mon_x:3", {**good, "chain": "mars"}, "unknown chain"),
        (b"mon_x:3", {**good, "addresses": ["0x12"]}, "address"),
        (b"mon_x:3", {**good, "addresses": POOL[:1] * 25_001}, "25000"),
        (b"mon_x:3", {**good, "base": "stale"}, "base"),
        (b"mon_x:3", {**good, "extra": 1}, "extra"),
        (b"mon_x:3", ["not", "an", "object"], "dict"),
    ]
    for key, data, why in bad:
        with pytest.raises(ValueError, match=why):
            read_chunk(key, data, {"local"})
