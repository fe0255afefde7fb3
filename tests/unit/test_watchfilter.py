"""The decode filter keeps every transfer that touches a watched address, and only those."""

from __future__ import annotations

from typing import Any

from streams.watchfilter import WatchFilter, marker_chunks

A, B, C = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20


def t(sender: str, to: str) -> Any:
    return {"sender": sender, "to": to, "key": f"{sender}>{to}"}


def test_keeps_either_side_per_chain() -> None:
    f = WatchFilter()
    f.add("local", [A])
    transfers = [t(A, B), t(B, A), t(B, C), t(C, C)]
    assert [x["key"] for x in f.keep("local", transfers)] == [f"{A}>{B}", f"{B}>{A}"]
    assert list(f.keep("other", transfers)) == []
    f.add("other", [C])
    assert [x["key"] for x in f.keep("other", transfers)] == [f"{B}>{C}", f"{C}>{C}"]
    assert len(f) == 2


def test_marker_chunks_cover_every_address_in_order() -> None:
    addrs = [f"0x{i:040x}" for i in range(12_001)]
    chunks = marker_chunks("local", addrs, size=5_000)
    assert [len(c["add"]) for c in chunks] == [5_000, 5_000, 2_001]  # type: ignore[arg-type]
    assert [a for c in chunks for a in c["add"]] == addrs  # type: ignore[attr-defined]
    assert all(c["type"] == "watch" and c["chain"] == "local" for c in chunks)
    assert marker_chunks("local", []) == []
