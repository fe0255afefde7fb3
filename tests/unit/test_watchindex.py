"""The per-partition watch index and the watch lists it is rebuilt from."""

from __future__ import annotations

from streams.watchindex import WatchIndex, apply_to_list

A, B, C = ("0x" + c * 40 for c in "abc")
K = {x: f"local:{a}" for x, a in zip("abc", (A, B, C), strict=True)}


def test_build_update_and_lookup() -> None:
    idx = WatchIndex()
    assert not idx.has(0)
    idx.build(0, [("mon_a", [K["a"], K["b"]]), ("mon_b", [K["b"]])])
    assert idx.has(0) and not idx.has(1)
    assert idx.monitors(0, K["b"]) == {"mon_a", "mon_b"}
    assert idx.monitors(0, f"other:{B}") == set()  # the same address on another chain
    idx.update(0, "mon_b", added=[K["c"]], removed=[K["b"]])
    assert idx.monitors(0, K["b"]) == {"mon_a"}
    assert idx.monitors(0, K["c"]) == {"mon_b"}
    idx.update(0, "mon_a", added=[], removed=[K["a"], K["b"], "local:0xzz"])
    assert idx.monitors(0, K["a"]) == set() and idx.monitors(0, K["b"]) == set()
    idx.update(0, "mon_b", added=[K["c"]], removed=[])  # a replay changes nothing
    assert idx.monitors(0, K["c"]) == {"mon_b"}
    assert idx.size() == 1
    idx.forget()
    assert not idx.has(0)


def test_keys_that_are_not_addresses_are_never_watched() -> None:
    idx = WatchIndex()
    idx.build(0, [("mon_a", ["local:0xa", "local:" + "0x" + "g" * 40, "nochain", K["a"]])])
    assert idx.size() == 1
    assert idx.monitors(0, "local:0xa") == set()
    assert idx.monitors(0, K["a"].upper().replace("LOCAL", "local")) == {"mon_a"}


def test_rebuilt_index_equals_updated_index() -> None:
    lists: dict[str, list[str]] = {}
    live = WatchIndex()
    live.build(3, [])
    changes = [
        ("m1", [K["a"], K["b"]], []),
        ("m2", [K["b"]], []),
        ("m1", [K["c"]], [K["a"]]),
        ("m2", [], [K["b"]]),
        ("m2", [K["b"]], []),
    ]
    for mid, add, rem in changes:
        lists[mid] = apply_to_list(lists.get(mid, []), add, rem)
        live.update(3, mid, add, rem)
    rebuilt = WatchIndex()
    rebuilt.build(3, lists.items())
    for k in K.values():
        assert rebuilt.monitors(3, k) == live.monitors(3, k)
    assert lists == {"m1": sorted([K["b"], K["c"]]), "m2": [K["b"]]}
