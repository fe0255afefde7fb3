"""fanout: a record per partition per block, packed into size-capped messages in order."""

from __future__ import annotations

from typing import Any

import orjson

from streams.fanout import Packer, records_for
from streams.match import partition_for
from tests.unit.test_decode import A, B, block, tx

P = 4


def test_every_partition_gets_a_record_per_block_with_the_transfers_it_owns() -> None:
    b: Any = {**block(txs=[tx(5, to=B)]), "type": "block"}
    recs = [
        orjson.loads(r)
        for r in records_for(b, P, native_symbol="ETH", finality_depth=9, watched=None)
    ]
    assert len(recs) == P
    for p, r in enumerate(recs):
        assert r["t"] == "block" and r["number"] == 100 and r["finality_depth"] == 9
        owned = {(m["address"], m["side"]) for m in r["items"]}
        want = set()
        if partition_for("local", B, P) == p:
            want.add((B, "in"))
        if partition_for("local", A, P) == p:
            want.add((A, "out"))
        assert owned == want


def test_watched_filter_routes_nothing_for_unwatched_blocks() -> None:
    b: Any = {**block(txs=[tx(5, to=B)]), "type": "block"}
    recs = records_for(b, P, native_symbol="ETH", finality_depth=9, watched=set())
    assert [orjson.loads(r)["items"] for r in recs] == [[]] * P


def test_reorg_marker_goes_to_every_partition_and_backfill_keeps_its_monitors() -> None:
    marker = {"type": "reorg", "chain": "local", "id": "reorg_x", "orphaned": []}
    recs = records_for(marker, P, native_symbol="ETH", finality_depth=9, watched=None)
    assert [orjson.loads(r)["t"] for r in recs] == ["reorg"] * P
    b: Any = {**block(), "type": "block", "backfill": {"monitors": ["mon_a"]}}
    rec = orjson.loads(records_for(b, 1, native_symbol="ETH", finality_depth=9, watched=None)[0])
    assert rec["t"] == "backfill" and rec["monitors"] == ["mon_a"]


def test_packer_keeps_order_per_partition_and_one_message_per_partition() -> None:
    pk = Packer(2)
    for i in range(5):
        pk.add([orjson.dumps({"n": i, "p": 0}), orjson.dumps({"n": i, "p": 1})])
    msgs = pk.messages()
    assert [p for p, _ in msgs] == [0, 1]
    for p, value in msgs:
        assert [r["n"] for r in orjson.loads(value)] == [0, 1, 2, 3, 4]
        assert {r["p"] for r in orjson.loads(value)} == {p}
    assert pk.messages() == []


def test_packer_splits_at_the_size_cap_without_reordering() -> None:
    pk = Packer(1, limit=100)
    recs = [orjson.dumps({"n": i, "pad": "x" * 30}) for i in range(10)]
    for r in recs:
        pk.add([r])
    msgs = pk.messages()
    assert len(msgs) > 1
    assert all(len(v) <= 100 for _, v in msgs)
    assert [r["n"] for _, v in msgs for r in orjson.loads(v)] == list(range(10))


def test_packer_sends_an_oversized_record_alone() -> None:
    pk = Packer(1, limit=50)
    big, small = orjson.dumps({"pad": "y" * 200}), orjson.dumps({"n": 1})
    pk.add([small])
    pk.add([big])
    pk.add([small])
    assert [len(orjson.loads(v)) for _, v in pk.messages()] == [1, 1, 1]


def test_a_watch_marker_in_a_batch_applies_to_the_blocks_after_it_only() -> None:
    from agents.decode import decode_batch
    from streams.watchfilter import WatchFilter

    watched = WatchFilter()
    b1 = {**block(txs=[tx(5, to=B)]), "type": "block", "number": 100}
    b2 = {**block(txs=[tx(6, to=B)]), "type": "block", "number": 101}
    marker = {"type": "watch", "chain": "local", "add": [B]}
    values = [orjson.dumps(b1), b"not json", orjson.dumps(marker), orjson.dumps(b2)]
    msgs = decode_batch(values, P, watched)
    assert sorted(m.partition or 0 for m in msgs) == list(range(P))  # one per partition
    assert {m.topic for m in msgs} == {"transfers"}
    routed: dict[int, list[str]] = {}
    for m in msgs:
        for rec in orjson.loads(m.value or b"[]"):
            routed.setdefault(rec["number"], []).extend(m["address"] for m in rec["items"])
    assert routed[100] == []  # before the marker: B was not watched yet
    assert sorted(routed[101]) == sorted([A, B])  # both sides of a transfer touching B
