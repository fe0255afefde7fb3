"""The monitors view holds watch lists packed, and reads them back exactly."""

from __future__ import annotations

import os
import tracemalloc
from typing import Any

from streams.addrmap import pack, unpack
from views.monitors import PackedMonitors


def monitor(mid: str, addresses: list[Any]) -> dict[str, Any]:
    return {"id": mid, "name": "n", "addresses": addresses, "webhook": None, "active": True}


def test_round_trip_keeps_order_and_key_order() -> None:
    addrs = ["0x" + os.urandom(20).hex() for _ in range(50)] + ["0x" + "00" * 20]
    m = PackedMonitors()
    m["mon_a"] = monitor("mon_a", addrs)
    got = m["mon_a"]
    assert got == monitor("mon_a", addrs) and list(got) == list(monitor("mon_a", addrs))
    got["addresses"].append("0x" + "11" * 20)  # a reader's copy: the view is unchanged
    assert m["mon_a"]["addresses"] == addrs
    assert "mon_a" in m and len(m) == 1 and list(m) == ["mon_a"]
    del m["mon_a"]
    assert "mon_a" not in m and m.get("mon_a") is None


def test_lists_that_would_not_survive_packing_are_kept_as_they_are() -> None:
    m = PackedMonitors()
    for mid, addrs in {
        "upper": ["0x" + "AB" * 20],
        "short": ["0xab"],
        "junk": ["0x" + "zz" * 20],
        "not_str": [7],
        "empty": [],
    }.items():
        m[mid] = monitor(mid, addrs)
        assert m[mid]["addresses"] == addrs
    m["none"] = {"id": "none"}
    assert m["none"] == {"id": "none"}
    assert pack(["0x" + "ab" * 20, "0X" + "ab" * 20]) is None


def test_packed_lists_cost_about_twenty_bytes_an_address() -> None:
    addrs = ["0x" + os.urandom(20).hex() for _ in range(100_000)]
    assert unpack(pack(addrs) or b"") == addrs
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        m = PackedMonitors()
        m["mon_a"] = monitor("mon_a", addrs)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 25 * len(addrs)
