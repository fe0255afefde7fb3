"""The per-partition watch index and the watch lists it is rebuilt from."""

from __future__ import annotations

from streams.watchindex import WatchIndex, apply_to_list


def test_build_update_and_lookup() -> None:
    idx = WatchIndex()
    assert not idx.has(0)
    idx.build(0, [("mon_a", ["local:0xa", "local:0xb"]), ("mon_b", ["local:0xb"])])
    assert idx.has(0) and not idx.has(1)
    assert idx.monitors(0, "local:0xb") == {"mon_a", "mon_b"}
    idx.update(0, "mon_b", added=["local:0xc"], removed=["local:0xb"])
    assert idx.monitors(0, "local:0xb") == {"mon_a"}
    assert idx.monitors(0, "local:0xc") == {"mon_b"}
    idx.update(0, "mon_a", added=[], removed=["local:0xa", "local:0xb", "local:0xzz"])
    assert idx.monitors(0, "local:0xa") == set() and idx.monitors(0, "local:0xb") == set()
    idx.update(0, "mon_b", added=["local:0xc"], removed=[])  # a replay changes nothing
    assert idx.monitors(0, "local:0xc") == {"mon_b"}
    idx.forget()
    assert not idx.has(0)


def test_rebuilt_index_equals_updated_index() -> None:
    lists: dict[str, list[str]] = {}
    live = WatchIndex()
    live.build(3, [])
    changes = [
        ("m1", ["k1", "k2"], []),
        ("m2", ["k2"], []),
        ("m1", ["k3"], ["k1"]),
        ("m2", [], ["k2"]),
        ("m2", ["k2"], []),
    ]
    for mid, add, rem in changes:
        lists[mid] = apply_to_list(lists.get(mid, []), add, rem)
        live.update(3, mid, add, rem)
    rebuilt = WatchIndex()
    rebuilt.build(3, lists.items())
    for k in ("k1", "k2", "k3"):
        assert rebuilt.monitors(3, k) == live.monitors(3, k)
    assert lists == {"m1": ["k2", "k3"], "m2": ["k2"]}
