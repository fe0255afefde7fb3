"""claims: the fold of the claims log deciding nonces and idempotency keys by log order."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from streams.claims import (
    IDEMPOTENCY_TTL_S,
    ClaimBook,
    Decision,
    abandon_record,
    claim_record,
    fingerprint,
    result_record,
)

T0 = 1_700_000_000.0
FP = fingerprint("POST", "/v1/monitors", hashlib.sha256(b'{"a":1}').hexdigest())
OTHER_FP = fingerprint("POST", "/v1/monitors", hashlib.sha256(b'{"a":2}').hexdigest())
SEALED = {"kid": "k", "nonce": "bm9uY2U=", "ct": "Y3Q="}


def claim(
    cid: str,
    *,
    nonce: str | None = None,
    at: float = T0,
    idem: str | None = "idem-1",
    fp: str | None = FP,
    principal: str = "p1",
    key_id: str = "key_1",
    ts: int | None = None,
) -> dict[str, Any]:
    return claim_record(
        cid,
        principal,
        key_id,
        nonce if nonce is not None else f"nonce-{cid}",
        int(at) if ts is None else ts,
        at,
        idem,
        fp,
    )


def result(
    cid: str, *, principal: str = "p1", idem: str = "idem-1", status: int = 201
) -> dict[str, Any]:
    return result_record(cid, principal, idem, T0 + 1, status, SEALED)


def fold(book: ClaimBook, rec: dict[str, Any]) -> Decision | None:
    """Expect, fold and take one claim, as a worker awaiting it would."""
    book.expect(str(rec["id"]))
    book.apply(rec)
    return book.take(str(rec["id"]))


def test_fingerprint() -> None:
    want = hashlib.sha256(b"POST\n/v1/x?a=1\nabc").hexdigest()
    assert fingerprint("post", "/v1/x?a=1", "abc") == want
    assert fingerprint("POST", "/v1/x?a=1", "abc") == want
    assert fingerprint("POST", "/v1/x?a=2", "abc") != want
    assert fingerprint("PUT", "/v1/x?a=1", "abc") != want
    assert fingerprint("POST", "/v1/x?a=1", "abd") != want


def test_records_shape() -> None:
    assert claim_record("c1", "p1", "key_1", "n1", 1700000000, T0, "i1", "fp") == {
        "type": "claim",
        "id": "c1",
        "principal": "p1",
        "key_id": "key_1",
        "nonce": "n1",
        "ts": 1700000000,
        "at": T0,
        "idem": "i1",
        "fingerprint": "fp",
    }
    assert result_record("c1", "p1", "i1", T0, 201, SEALED) == {
        "type": "result",
        "claim": "c1",
        "principal": "p1",
        "idem": "i1",
        "at": T0,
        "status": 201,
        "body": SEALED,
    }


def test_default_ttl() -> None:
    assert IDEMPOTENCY_TTL_S == 86_400.0
    assert ClaimBook().ttl_s == IDEMPOTENCY_TTL_S


def test_first_goes_second_waits_third_replays() -> None:
    book = ClaimBook()
    assert fold(book, claim("c1")) == Decision("go", "c1")
    assert fold(book, claim("c2", at=T0 + 1)) == Decision("wait", "c1")
    assert book.result_of("c1") is None
    res = result("c1")
    book.apply(res)
    assert book.result_of("c1") == res
    assert fold(book, claim("c3", at=T0 + 2)) == Decision("replay", "c1")


def test_an_abandoned_winner_frees_its_idem_key() -> None:
    book = ClaimBook()
    assert fold(book, claim("c1")) == Decision("go", "c1")  # decided too late: never ran
    book.apply(abandon_record("c1", "p1", T0 + 15))
    assert fold(book, claim("c2", at=T0 + 16)) == Decision("go", "c2")
    book.apply(abandon_record("c1", "p1", T0 + 17))  # a stale one again: c2 keeps the key
    assert fold(book, claim("c3", at=T0 + 18)) == Decision("wait", "c2")


def test_abandoning_after_a_result_or_as_a_loser_changes_nothing() -> None:
    book = ClaimBook()
    fold(book, claim("c1"))
    assert fold(book, claim("c2", at=T0 + 1)) == Decision("wait", "c1")
    book.apply(abandon_record("c2", "p1", T0 + 2))  # a loser gives up: c1 still holds it
    assert fold(book, claim("c3", at=T0 + 3)) == Decision("wait", "c1")
    book.apply(result("c1"))
    book.apply(abandon_record("c1", "p1", T0 + 4))  # answered: its answer stands
    assert fold(book, claim("c4", at=T0 + 5)) == Decision("replay", "c1")


def test_only_the_first_result_counts() -> None:
    book = ClaimBook()
    fold(book, claim("c1"))
    first = result("c1", status=201)
    book.apply(first)
    book.apply(result("c1", status=500))
    assert book.result_of("c1") == first


def test_result_of_a_loser_or_stranger_is_none() -> None:
    book = ClaimBook()
    fold(book, claim("c1"))
    fold(book, claim("c2", at=T0 + 1))
    book.apply(result("c2"))  # c2 is no winner: nothing happens
    assert book.result_of("c1") is None
    assert book.result_of("c2") is None
    assert book.result_of("nobody") is None


def test_different_fingerprint_is_mismatch() -> None:
    book = ClaimBook()
    assert fold(book, claim("c1")) == Decision("go", "c1")
    assert fold(book, claim("c2", at=T0 + 1, fp=OTHER_FP)) == Decision("mismatch", "c1")
    book.apply(result("c1"))
    assert fold(book, claim("c3", at=T0 + 2, fp=OTHER_FP)) == Decision("mismatch", "c1")
    assert fold(book, claim("c4", at=T0 + 3)) == Decision("replay", "c1")


def test_other_principal_same_idem_key_is_independent() -> None:
    book = ClaimBook()
    assert fold(book, claim("c1", principal="p1")) == Decision("go", "c1")
    assert fold(book, claim("c2", principal="p2", key_id="key_2")) == Decision("go", "c2")
    book.apply(result("c2", principal="p2"))
    assert book.result_of("c1") is None
    assert fold(book, claim("c3", principal="p1", at=T0 + 1)) == Decision("wait", "c1")
    assert fold(book, claim("c4", principal="p2", key_id="key_2", at=T0 + 1)) == Decision(
        "replay", "c2"
    )


def test_other_idem_key_same_principal_is_independent() -> None:
    book = ClaimBook()
    assert fold(book, claim("c1", idem="i1")) == Decision("go", "c1")
    assert fold(book, claim("c2", idem="i2", fp=OTHER_FP)) == Decision("go", "c2")


def test_no_idem_key_goes() -> None:
    book = ClaimBook()
    assert fold(book, claim("c1", idem=None, fp=None)) == Decision("go")
    assert fold(book, claim("c2", idem=None, fp=None)) == Decision("go")
    assert fold(book, claim("c3", idem="", fp=None)) == Decision("go")
    assert book.slots == {}


def test_replayed_nonce() -> None:
    book = ClaimBook()
    assert fold(book, claim("c1", nonce="n1", idem=None)) == Decision("go")
    assert fold(book, claim("c2", nonce="n1", idem=None, at=T0 + 1)) == Decision("replayed")


def test_nonce_is_per_key_id() -> None:
    book = ClaimBook()
    assert fold(book, claim("c1", nonce="n1", idem=None)) == Decision("go")
    assert fold(book, claim("c2", nonce="n1", idem=None, key_id="key_2")) == Decision("go")


def test_replayed_nonce_takes_no_idem_slot() -> None:
    book = ClaimBook()
    assert fold(book, claim("c1", nonce="n1", idem=None)) == Decision("go")
    assert fold(book, claim("c2", nonce="n1", idem="i9")) == Decision("replayed")
    assert book.slots == {}
    assert fold(book, claim("c3", nonce="n2", idem="i9")) == Decision("go", "c3")


def test_replayed_nonce_with_a_held_idem_key_is_replayed_not_replay() -> None:
    book = ClaimBook()
    fold(book, claim("c1", nonce="n1"))
    book.apply(result("c1"))
    assert fold(book, claim("c2", nonce="n1", at=T0 + 1)) == Decision("replayed")


def test_nonce_usable_again_after_its_window() -> None:
    book = ClaimBook()
    assert fold(book, claim("c1", nonce="n1", idem=None)) == Decision("go")
    assert fold(book, claim("c2", nonce="n1", idem=None, at=T0 + 301)) == Decision("go")


def test_future_stamped_claim_keeps_its_nonce_longer() -> None:
    book = ClaimBook()
    assert fold(book, claim("c1", nonce="n1", idem=None, ts=int(T0) + 300)) == Decision("go")
    assert fold(book, claim("c2", nonce="n1", idem=None, at=T0 + 500)) == Decision("replayed")


def test_idem_key_usable_again_after_ttl() -> None:
    book = ClaimBook(ttl_s=100)
    assert fold(book, claim("c1")) == Decision("go", "c1")
    book.apply(result("c1"))
    assert fold(book, claim("c2", at=T0 + 100)) == Decision("replay", "c1")  # at the ttl: kept
    assert fold(book, claim("c3", at=T0 + 100.5, fp=OTHER_FP)) == Decision("go", "c3")
    assert book.result_of("c1") is None
    assert fold(book, claim("c4", at=T0 + 101, fp=OTHER_FP)) == Decision("wait", "c3")


def test_expire_drops_old_idem_keys_and_nonces() -> None:
    book = ClaimBook(ttl_s=100)
    fold(book, claim("c1"))
    book.apply(result("c1"))
    fold(book, claim("c2", idem="i2", at=T0 + 50))
    book.expire(T0 + 101)
    assert set(book.slots) == {("p1", "i2")}
    assert book.result_of("c1") is None
    assert "c1" not in book._by_winner
    assert fold(book, claim("c3", at=T0 + 102)) == Decision("go", "c3")
    book.expire(T0 + 10_000)
    assert book.slots == {}
    assert len(book.nonces) == 0


def test_decisions_kept_only_for_expected_claims() -> None:
    book = ClaimBook()
    book.apply(claim("c1"))  # another worker's claim
    assert book.decisions == {}
    book.expect("c2")
    book.apply(claim("c2", at=T0 + 1))
    assert book.decisions == {"c2": Decision("wait", "c1")}
    assert book.take("c2") == Decision("wait", "c1")
    assert book.decisions == {}
    assert book.expecting == set()
    assert book.take("c2") is None


def test_take_before_the_claim_is_folded() -> None:
    book = ClaimBook()
    book.expect("c1")
    assert book.take("c1") is None
    assert book.expecting == {"c1"}  # still awaited
    book.apply(claim("c1"))
    assert book.take("c1") == Decision("go", "c1")


def test_forget_stops_awaiting() -> None:
    book = ClaimBook()
    book.expect("c1")
    book.forget("c1")
    book.apply(claim("c1"))
    assert book.decisions == {}
    assert book.expecting == set()
    # the fold itself still counts it: the key is held by c1
    assert fold(book, claim("c2", at=T0 + 1)) == Decision("wait", "c1")


def test_forget_drops_a_decision_not_taken() -> None:
    book = ClaimBook()
    book.expect("c1")
    book.apply(claim("c1"))
    book.forget("c1")
    assert book.decisions == {}
    assert book.take("c1") is None


def test_two_books_fold_the_same_log_alike() -> None:
    log = [
        claim("c1"),
        claim("c2", at=T0 + 1),
        claim("c3", nonce="nonce-c1", at=T0 + 2),
        result("c1"),
        claim("c4", at=T0 + 3, fp=OTHER_FP),
        claim("c5", at=T0 + 4),
        claim("c6", principal="p2", key_id="key_2", at=T0 + 5),
    ]
    answers = []
    for _ in range(2):
        book = ClaimBook()
        for rec in log:
            if rec["type"] == "claim":
                book.expect(rec["id"])
        for rec in log:
            book.apply(rec)
        answers.append({cid: book.take(cid) for cid in ["c1", "c2", "c3", "c4", "c5", "c6"]})
    assert (
        answers[0]
        == answers[1]
        == {
            "c1": Decision("go", "c1"),
            "c2": Decision("wait", "c1"),
            "c3": Decision("replayed"),
            "c4": Decision("mismatch", "c1"),
            "c5": Decision("replay", "c1"),
            "c6": Decision("go", "c6"),
        }
    )


@pytest.mark.parametrize(
    "rec",
    [
        {},
        {"type": "other", "id": "c1"},
        {"type": None},
        {"type": "claim"},
        {"type": "claim", "id": "c1"},
        {"type": "claim", "id": "c1", "at": T0, "key_id": "k", "nonce": "n"},  # no ts
        {"type": "claim", "id": "c1", "at": "soon", "key_id": "k", "nonce": "n", "ts": 1},
        {"type": "claim", "id": "c1", "at": T0, "key_id": "k", "nonce": "n", "ts": None},
        {"type": "claim", "id": "c1", "at": T0, "key_id": "k", "nonce": "n", "ts": [1]},
        {"type": "claim", "id": "c1", "at": {}, "key_id": "k", "nonce": "n", "ts": 1},
        {"type": "result"},
        {"type": "result", "claim": "nobody", "status": 200},
        {"type": "result", "claim": None},
    ],
)
def test_malformed_records_are_ignored(rec: dict[str, Any]) -> None:
    book = ClaimBook()
    book.expect("c1")
    book.apply(rec)
    assert book.decisions == {}
    assert book.slots == {}
    assert len(book.nonces) == 0
    # and the fold carries on as if it had not been there
    assert fold(book, claim("c1")) == Decision("go", "c1")


def test_malformed_result_does_not_fill_a_slot() -> None:
    book = ClaimBook()
    fold(book, claim("c1"))
    book.apply({"type": "result"})
    book.apply({"type": "result", "claim": "c2"})
    assert book.result_of("c1") is None
    assert fold(book, claim("c2", at=T0 + 1)) == Decision("wait", "c1")


def test_duplicate_claim_record_keeps_its_first_decision() -> None:
    book = ClaimBook()
    rec = claim("c1")
    book.expect("c1")
    book.apply(rec)
    book.apply(dict(rec))  # the same record, delivered twice
    assert book.take("c1") == Decision("go", "c1")
