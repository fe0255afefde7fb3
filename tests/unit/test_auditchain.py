"""auditchain: the hash chain of the audit log, its hash computed here independently."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.auditchain import GENESIS, Head, Verdict, canonical_json, chain, record_hash, verify


def expected_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """The contract, spelled out without the module."""
    body = {k: v for k, v in record.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(prev_hash.encode() + text.encode()).hexdigest()


ENTRIES: list[dict[str, Any]] = [
    {"at": 1_700_000_000.0, "actor": "key_1", "action": "monitor.create", "detail": "m1"},
    {"at": 1_700_000_001.5, "actor": "key_2", "action": "wallet.create", "detail": {"n": 3}},
    {"at": 1_700_000_002.0, "actor": "key_1", "action": "key.revoke", "detail": "Grüße 世界"},
    {"at": 1_700_000_003.0, "actor": "admin", "action": "withdrawal.approve", "detail": None},
    {"at": 1_700_000_004.0, "actor": "key_3", "action": "monitor.delete", "detail": [1, "x"]},
]


def build(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Head]:
    head = Head()
    out = []
    for e in entries:
        rec, head = chain(head, e)
        out.append(rec)
    return out, head


def test_genesis_is_64_zeros() -> None:
    assert GENESIS == "0" * 64
    assert Head() == Head(0, "0" * 64)


def test_first_record() -> None:
    rec, head = chain(Head(), ENTRIES[0])
    assert rec["seq"] == 1
    assert rec["prev_hash"] == "0" * 64
    assert rec["hash"] == expected_hash("0" * 64, rec)
    assert len(rec["hash"]) == 64
    assert head == Head(1, rec["hash"])
    assert {k: v for k, v in rec.items() if k not in ("seq", "prev_hash", "hash")} == ENTRIES[0]


def test_first_record_hash_literal_bytes() -> None:
    rec, _ = chain(Head(), {"action": "a", "at": 1})
    text = '{"action":"a","at":1,"prev_hash":"' + "0" * 64 + '","seq":1}'
    assert rec["hash"] == hashlib.sha256(("0" * 64 + text).encode()).hexdigest()


def test_seq_counts_from_one_and_links() -> None:
    recs, head = build(ENTRIES)
    assert [r["seq"] for r in recs] == [1, 2, 3, 4, 5]
    prev = "0" * 64
    for r in recs:
        assert r["prev_hash"] == prev
        assert r["hash"] == expected_hash(prev, r)
        prev = r["hash"]
    assert head == Head(5, prev)


def test_chain_ignores_seq_prev_and_hash_in_the_entry() -> None:
    entry = {"action": "x", "seq": 99, "prev_hash": "f" * 64, "hash": "e" * 64}
    rec, head = chain(Head(3, "a" * 64), entry)
    assert rec["seq"] == 4
    assert rec["prev_hash"] == "a" * 64
    assert rec["hash"] == expected_hash("a" * 64, rec)
    assert head.seq == 4


def test_chain_does_not_change_the_entry() -> None:
    entry = {"action": "x"}
    chain(Head(), entry)
    assert entry == {"action": "x"}


def test_record_hash_leaves_out_its_own_hash() -> None:
    rec = {"seq": 1, "prev_hash": GENESIS, "action": "a"}
    assert record_hash(GENESIS, rec) == record_hash(GENESIS, {**rec, "hash": "anything"})
    assert record_hash(GENESIS, rec) == expected_hash(GENESIS, rec)


def test_record_hash_does_not_depend_on_key_order() -> None:
    a = {"seq": 1, "b": 2, "a": 1}
    b = {"a": 1, "b": 2, "seq": 1}
    assert record_hash(GENESIS, a) == record_hash(GENESIS, b)


def test_canonical_json_unescaped_utf8() -> None:
    got = canonical_json({"detail": "Grüße €", "b": 1, "a": [1, 2]})
    assert got == '{"a":[1,2],"b":1,"detail":"Grüße €"}'.encode()
    assert b"\\u" not in got


def test_non_ascii_detail_is_hashed_unescaped() -> None:
    rec, _ = chain(Head(), {"action": "note", "detail": "Grüße, 世界 🚀"})
    raw = "0" * 64 + json.dumps(
        {k: v for k, v in rec.items() if k != "hash"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert "Grüße, 世界 🚀" in raw
    assert rec["hash"] == hashlib.sha256(raw.encode("utf-8")).hexdigest()
    escaped = "0" * 64 + json.dumps(
        {k: v for k, v in rec.items() if k != "hash"}, sort_keys=True, separators=(",", ":")
    )
    assert rec["hash"] != hashlib.sha256(escaped.encode()).hexdigest()


def test_verify_ok() -> None:
    recs, head = build(ENTRIES)
    v = verify(recs)
    assert v == Verdict(True, 5, head.hash)
    assert v.answer() == {"ok": True, "records": 5, "head": recs[-1]["hash"]}


def test_verify_empty() -> None:
    assert verify([]).answer() == {"ok": True, "records": 0, "head": "0" * 64}


def test_verify_takes_any_iterable() -> None:
    recs, head = build(ENTRIES)
    assert verify(iter(recs)).answer() == {"ok": True, "records": 5, "head": head.hash}


def test_verify_survives_a_json_round_trip() -> None:
    recs, _ = build(ENTRIES)
    again = [json.loads(json.dumps(r)) for r in recs]
    assert verify(again).ok


def _bad(recs: list[dict[str, Any]]) -> dict[str, Any]:
    v = verify(recs).answer()
    assert v["ok"] is False
    return v


def test_tampered_field_is_found() -> None:
    recs, _ = build(ENTRIES)
    recs[2] = {**recs[2], "actor": "someone-else"}
    v = _bad(recs)
    assert v["bad_seq"] == 3
    assert v["records"] == 2
    assert v["head"] == recs[1]["hash"]
    assert v["reason"] == "hash does not match the record"


def test_added_field_is_found() -> None:
    recs, _ = build(ENTRIES)
    recs[0] = {**recs[0], "extra": True}
    v = _bad(recs)
    assert v["bad_seq"] == 1
    assert v["records"] == 0
    assert v["head"] == "0" * 64


def test_tampered_nested_and_non_ascii_detail_is_found() -> None:
    recs, _ = build(ENTRIES)
    recs[1] = {**recs[1], "detail": {"n": 4}}
    assert _bad(recs)["bad_seq"] == 2
    recs, _ = build(ENTRIES)
    recs[2] = {**recs[2], "detail": "Grüsse 世界"}
    assert _bad(recs)["bad_seq"] == 3


def test_removed_record_is_found() -> None:
    recs, _ = build(ENTRIES)
    del recs[2]
    v = _bad(recs)
    assert v["bad_seq"] == 3
    assert v["records"] == 2
    assert "seq 4" in v["reason"]


def test_removed_first_record_is_found() -> None:
    recs, _ = build(ENTRIES)
    v = _bad(recs[1:])
    assert v["bad_seq"] == 1
    assert v["records"] == 0
    assert v["head"] == "0" * 64


def test_swapped_records_are_found() -> None:
    recs, _ = build(ENTRIES)
    recs[1], recs[2] = recs[2], recs[1]
    v = _bad(recs)
    assert v["bad_seq"] == 2
    assert v["records"] == 1


def test_swapped_and_renumbered_records_are_found() -> None:
    """Swapping two records and fixing their seq still breaks the links."""
    recs, _ = build(ENTRIES)
    a, b = recs[1], recs[2]
    recs[1] = {**b, "seq": 2}
    recs[2] = {**a, "seq": 3}
    v = _bad(recs)
    assert v["bad_seq"] == 2
    assert v["reason"] == "prev_hash is not the previous hash"


def test_forged_record_with_recomputed_hash_but_wrong_link() -> None:
    recs, _ = build(ENTRIES)
    forged = {**recs[2], "actor": "mallory", "prev_hash": "1" * 64}
    forged["hash"] = expected_hash("1" * 64, forged)
    recs[2] = forged
    v = _bad(recs)
    assert v["bad_seq"] == 3
    assert v["reason"] == "prev_hash is not the previous hash"


def test_forged_record_with_recomputed_hash_over_the_wrong_predecessor() -> None:
    """prev_hash left right, hash recomputed as if it followed genesis."""
    recs, _ = build(ENTRIES)
    forged = {**recs[2], "actor": "mallory"}
    forged["hash"] = expected_hash("0" * 64, forged)
    recs[2] = forged
    v = _bad(recs)
    assert v["bad_seq"] == 3
    assert v["reason"] == "hash does not match the record"


def test_forged_record_breaks_its_successor() -> None:
    """A forged record whose own hash is right makes the next record's link wrong."""
    recs, _ = build(ENTRIES)
    forged = {**recs[2], "actor": "mallory"}
    forged["hash"] = expected_hash(forged["prev_hash"], forged)
    recs[2] = forged
    v = _bad(recs)
    assert v["bad_seq"] == 4
    assert v["records"] == 3
    assert v["head"] == forged["hash"]
    assert v["reason"] == "prev_hash is not the previous hash"


def test_duplicated_record_is_found() -> None:
    recs, _ = build(ENTRIES)
    recs.insert(2, recs[1])
    v = _bad(recs)
    assert v["bad_seq"] == 3


@pytest.mark.parametrize("field", ["seq", "prev_hash", "hash"])
def test_missing_chain_field_is_found(field: str) -> None:
    recs, _ = build(ENTRIES)
    recs[3] = {k: v for k, v in recs[3].items() if k != field}
    assert _bad(recs)["bad_seq"] == 4


def test_verdict_answer_names_the_bad_seq_only_when_bad() -> None:
    assert Verdict(True, 3, "h").answer() == {"ok": True, "records": 3, "head": "h"}
    assert Verdict(False, 3, "h", 4, "why").answer() == {
        "ok": False,
        "records": 3,
        "head": "h",
        "bad_seq": 4,
        "reason": "why",
    }


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.lists(
        st.dictionaries(
            st.text(max_size=8).filter(lambda k: k not in ("seq", "prev_hash", "hash")),
            json_values,
            max_size=4,
        ),
        max_size=8,
    )
)
def test_any_chain_verifies_and_matches_the_independent_hash(
    entries: list[dict[str, Any]],
) -> None:
    recs, head = build(entries)
    prev = "0" * 64
    for i, r in enumerate(recs, start=1):
        assert r["seq"] == i
        assert r["prev_hash"] == prev
        assert r["hash"] == expected_hash(prev, r)
        prev = r["hash"]
    assert verify(recs).answer() == {"ok": True, "records": len(recs), "head": head.hash}
    assert head.hash == prev
