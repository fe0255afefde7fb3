"""The compact watch structures against plain dict/set models, and their size per address."""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.addrbloom import AddressBloom
from streams.addrmap import KEY, AddressMap, address_of, key_of, keys_of
from streams.watchfilter import WatchFilter
from streams.watchindex import WatchIndex

# Few distinct keys, so sequences revisit them; trailing and leading zero bytes included,
# since numpy hands fixed-width bytes out without their trailing zeros.
ALL_KEYS = [
    bytes(20),
    b"\x01" + bytes(19),
    bytes(19) + b"\x01",
    b"\xff" * 20,
    b"\xff" * 19 + b"\0",
    *(bytes([i]) * 20 for i in range(2, 14)),
]
KEYS = st.sampled_from(ALL_KEYS)
OPS = st.lists(
    st.tuples(
        st.sampled_from(["put", "del", "add"]), st.lists(KEYS, max_size=6), st.integers(1, 9)
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(OPS, st.integers(1, 4))
def test_address_map_equals_a_dict(ops: list[tuple[str, list[bytes], int]], delta: int) -> None:
    m, model = AddressMap(min_delta=delta), dict[bytes, int]()
    for op, keys, value in ops:
        arr = np.array(keys, dtype=KEY)
        if op == "put":
            m.put_many(arr, np.full(len(keys), value, dtype=np.uint32))
            model.update(dict.fromkeys(keys, value))
        elif op == "del":
            m.put_many(arr, np.zeros(len(keys), dtype=np.uint32))
            for k in keys:
                model.pop(k, None)
        else:
            new = {k for k in keys if k not in model}
            assert m.add_many(arr) == len(new)
            model.update(dict.fromkeys(new, 1))
        assert len(m) == len(model)
        for k in ALL_KEYS:
            assert m.get(k) == model.get(k, 0)
        got = m.get_many(np.array(ALL_KEYS, dtype=KEY))
        assert [int(v) for v in got] == [model.get(k, 0) for k in ALL_KEYS]
    keys, values = m.items()
    assert {address_of(k): int(v) for k, v in zip(keys.tolist(), values.tolist(), strict=True)} == {
        address_of(k): v for k, v in model.items()
    }


ALL_ADDRS = [address_of(bytes([i]) * 19 + bytes([j])) for i in range(4) for j in (0, 7)]
ALL_CHAINS = ["local", "other"]
ADDRS, CHAINS = st.sampled_from(ALL_ADDRS), st.sampled_from(ALL_CHAINS)
CHANGES = st.lists(
    st.tuples(
        st.sampled_from(["m1", "m2", "m3"]),
        st.lists(st.tuples(CHAINS, ADDRS), max_size=5),
        st.lists(st.tuples(CHAINS, ADDRS), max_size=5),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(CHANGES)
def test_watch_index_equals_a_dict_of_sets(
    changes: list[tuple[str, list[tuple[str, str]], list[tuple[str, str]]]],
) -> None:
    """Exact both ways: every watching monitor and no other (no false positive can reach
    an event), after any sequence of adds and removes, and after a rebuild from the lists."""
    idx, model = WatchIndex(), dict[str, set[str]]()
    idx.build(0, [])
    lists: dict[str, set[str]] = {}
    for mid, add, rem in changes:
        added = [f"{c}:{a}" for c, a in add]
        removed = [f"{c}:{a}" for c, a in rem]
        idx.update(0, mid, added, removed)
        lists[mid] = (lists.get(mid, set()) | set(added)) - set(removed)
        for k in added:
            model.setdefault(k, set()).add(mid)
        for k in removed:
            model.get(k, set()).discard(mid)
    rebuilt = WatchIndex()
    rebuilt.build(0, [(mid, sorted(keys)) for mid, keys in lists.items()])
    for c in ALL_CHAINS:
        for a in ALL_ADDRS:
            want = model.get(f"{c}:{a}", set())
            assert idx.monitors(0, f"{c}:{a}") == want
            assert rebuilt.monitors(0, f"{c}:{a}") == want


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(CHAINS, ADDRS), max_size=30))
def test_watch_filter_never_misses(adds: list[tuple[str, str]]) -> None:
    f = WatchFilter()
    for c, a in adds:
        f.add(c, [a])
        assert a in f.addresses(c)
    for c, a in adds:
        assert a in f.addresses(c) and a.upper().replace("0X", "0x") in f.addresses(c)
    assert len(f) == len(set(adds))


def test_bloom_rebuilds_as_it_grows_and_stays_selective() -> None:
    f = WatchFilter()
    watched = ["0x" + os.urandom(20).hex() for _ in range(200_000)]
    for i in range(0, len(watched), 10_000):
        f.add("local", watched[i : i + 10_000])
    seen = f.addresses("local")
    assert all(a in seen for a in watched)
    others = ["0x" + os.urandom(20).hex() for _ in range(100_000)]
    assert sum(a in seen for a in others) < 1_000  # under 1% false "maybe"
    for junk in ("", "0x", "0xzz", None, 7, "0x" + "g" * 40):
        assert junk not in seen


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(st.binary(min_size=20, max_size=20), max_size=8), st.integers(1, 5)),
        max_size=12,
    )
)
def test_add_absent_gives_the_value_to_the_absent_keys_only(
    ops: list[tuple[list[bytes], int]],
) -> None:
    m, model = AddressMap(min_delta=4), {}
    for raw, value in ops:
        keys = np.unique(np.array(raw, dtype=KEY))
        old = m.add_absent(keys, value)
        assert [int(v) for v in old] == [model.get(bytes(k), 0) for k in keys]
        for k in keys:
            model.setdefault(bytes(k), value)
    keys, values = m.items()
    assert {bytes(k): int(v) for k, v in zip(keys, values, strict=True)} == model
    assert len(m) == len(model)


def test_keys_of_leaves_out_what_is_not_an_address() -> None:
    good = "0x" + "ab" * 20
    assert keys_of([good, good.upper().replace("0X", "0x")]).tolist() == [key_of(good)] * 2
    mixed = keys_of(["0x" + "g" * 40, good, "0xab", good[:-2] + "  ", 42 * "0"])
    assert mixed.tolist() == [key_of(good)]
    assert key_of("0X" + "AB" * 20) == key_of(good)
    assert len(keys_of([])) == 0


def test_bloom_answers_for_its_keys_only() -> None:
    keys = keys_of(["0x" + os.urandom(20).hex() for _ in range(1000)])
    b = AddressBloom(keys)
    assert all(address_of(k) in b for k in keys.tolist())
    assert b.capacity >= 1000


def test_memory_per_address_at_one_million() -> None:
    """The decode filter and the tracker's index together, for 1M addresses over 4
    partitions (what one worker holds for them): well under 200 bytes an address."""
    n, parts, step = 1_000_000, 4, 100_000
    raw = os.urandom(20 * n).hex()
    addrs = ["0x" + raw[40 * i : 40 * (i + 1)] for i in range(n)]
    chunks = [addrs[i : i + step] for i in range(0, n, step)]
    keys = [[[f"local:{a}" for a in c[p::parts]] for p in range(parts)] for c in chunks]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        f, idx = WatchFilter(), WatchIndex()
        for p in range(parts):
            idx.build(p, [])
        for chunk, per_partition in zip(chunks, keys, strict=True):
            f.add("local", chunk)
            for p in range(parts):
                idx.update(p, "mon_a", per_partition[p], [])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(f) == n and idx.size() == n
    assert idx.monitors(2, f"local:{addrs[2]}") == {"mon_a"}
    per_address = held / n
    assert per_address <= 200, f"{per_address:.0f} bytes an address"
    assert f.nbytes + idx.nbytes() <= 80 * n  # the arrays themselves: about 24 + 24 + 4..8
