"""The four-eyes state machine: every transition, and no path to approved short of four eyes."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams import withdrawal as w

AT = "2026-12-02T12:00:00Z"
PEOPLE = ("alice", "bob", "carol", "dave")


def rec(required: int = 2, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "wdr_1",
        "wallet_id": "wal_1",
        "batch_id": None,
        "chain": "local",
        "from": "0x" + "11" * 20,
        "to": "0x" + "22" * 20,
        "asset": {"kind": "native", "contract": None, "symbol": "ETH", "decimals": 18},
        "amount": "1000",
        "status": w.PENDING,
        "requested_by": "alice",
        "approvals_required": required,
        "approvals": [],
        "rejected_by": None,
        "reason": None,
        "created_at": AT,
        "updated_at": AT,
    }
    return {**base, **kw}


def test_two_distinct_approvals_make_it_approved() -> None:
    s1 = w.approve(rec(), "bob", AT)
    assert s1.ok and s1.record is not None and s1.record["status"] == w.PENDING
    assert s1.events == ()
    s2 = w.approve(s1.record, "carol", AT)
    assert s2.record is not None and s2.record["status"] == w.APPROVED
    assert s2.events == ("withdrawal.approved",)
    assert [a["principal"] for a in s2.record["approvals"]] == ["bob", "carol"]


def test_the_requester_can_never_approve() -> None:
    s = w.approve(rec(), "alice", AT)
    assert s.code == "self_approval" and w.CODES["self_approval"] == 403
    done = w.approve(w.approve(rec(), "bob", AT).record or {}, "carol", AT).record or {}
    assert w.approve(done, "alice", AT).code == "self_approval"


def test_a_principal_approves_once() -> None:
    s = w.approve(w.approve(rec(), "bob", AT).record or {}, "bob", AT)
    assert s.code == "already_approved" and w.CODES["already_approved"] == 409


def test_after_rejection_no_approval() -> None:
    r = w.reject(rec(), "bob", "wrong address", AT)
    assert r.record is not None and r.record["status"] == w.REJECTED
    assert r.record["rejected_by"] == "bob" and r.events == ("withdrawal.rejected",)
    assert w.approve(r.record, "carol", AT).code == "not_pending"
    assert w.reject(r.record, "carol", "again", AT).code == "not_pending"
    assert w.cancel(r.record, "alice", False, AT).code == "not_pending"


def test_required_below_two_still_needs_two() -> None:
    s = w.approve(rec(required=1), "bob", AT)
    assert s.record is not None and s.record["status"] == w.PENDING
    assert w.approvals_required(0) == 2 and w.approvals_required(3) == 3


def test_three_required() -> None:
    r = rec(required=3)
    for p in ("bob", "carol"):
        r = w.approve(r, p, AT).record or {}
    assert r["status"] == w.PENDING
    r = w.approve(r, "dave", AT).record or {}
    assert r["status"] == w.APPROVED


def test_cancel_by_requester_or_admin_until_signing() -> None:
    assert w.cancel(rec(), "bob", False, AT).code == "forbidden"
    c = w.cancel(rec(), "alice", False, AT)
    assert c.record is not None and c.record["status"] == w.CANCELLED
    assert c.events == ("withdrawal.cancelled",)
    approved = rec(status=w.APPROVED)
    assert (w.cancel(approved, "root", True, AT).record or {})["status"] == w.CANCELLED
    for late in (w.SIGNING, w.BROADCAST, w.CONFIRMED, w.FAILED):
        assert w.cancel(rec(status=late), "alice", False, AT).code == "not_pending"


def test_batch_items_follow_the_batch_only() -> None:
    item = rec(batch_id="wbt_1")
    assert w.approve(item, "bob", AT).code == "in_batch"
    assert w.reject(item, "bob", "no", AT).code == "in_batch"
    assert w.cancel(item, "alice", False, AT).code == "in_batch"


def batch(required: int = 2, **kw: Any) -> dict[str, Any]:
    b = rec(required, id="wbt_1")
    b.pop("batch_id")
    return {**b, **kw}


def items(n: int) -> list[dict[str, Any]]:
    return [rec(id=f"wdr_{i}", batch_id="wbt_1") for i in range(n)]


def test_batch_approval_approves_every_item() -> None:
    its = items(3)
    s1 = w.approve_batch(batch(), its, "bob", AT)
    assert s1.record is not None and s1.record["status"] == w.PENDING and s1.events == ()
    s2 = w.approve_batch(s1.record, [*its], "carol", AT)
    assert s2.record is not None and s2.record["status"] == w.APPROVED
    assert [i["status"] for i in s2.items] == [w.APPROVED] * 3
    assert all(len(i["approvals"]) == 2 for i in s2.items)
    assert w.approve_batch(batch(), its, "alice", AT).code == "self_approval"


def test_batch_reject_and_cancel() -> None:
    its = items(2)
    r = w.reject_batch(batch(), its, "bob", "no", AT)
    assert [i["status"] for i in r.items] == [w.REJECTED] * 2
    assert r.items[0]["reason"] == "no"
    its[0]["status"] = w.SIGNING
    c = w.cancel_batch(batch(status=w.APPROVED), its, "alice", False, AT)
    assert [i["id"] for i in c.items] == ["wdr_1"]  # the one at the signer goes on
    its[1]["status"] = w.BROADCAST
    assert w.cancel_batch(batch(status=w.APPROVED), its, "alice", False, AT).code == "not_pending"
    assert w.cancel_batch(batch(), its, "bob", False, AT).code == "forbidden"


def test_event_shape_and_id() -> None:
    ev = w.event(rec(), "withdrawal.requested", AT)
    assert ev["withdrawal_id"] == "wdr_1" and ev["type"] == "withdrawal.requested"
    assert ev["id"] == w.event_id("wdr_1", "withdrawal.requested") and ev["id"].startswith("evt_")
    assert ev["id"] != w.event_id("wdr_1", "withdrawal.approved")
    assert "tx" not in ev and "raw" not in w.public({**rec(), "raw": "0x00"})


# Any sequence of commands by anyone, on a withdrawal or a batch.
ops = st.lists(
    st.tuples(
        st.sampled_from(["approve", "reject", "cancel"]),
        st.sampled_from(PEOPLE),
        st.booleans(),  # is the caller an admin
    ),
    max_size=12,
)


def _past_approval(r: dict[str, Any]) -> bool:
    return bool(r["status"] == w.APPROVED)


@settings(max_examples=400)
@given(ops, st.integers(min_value=-1, max_value=4))
def test_no_sequence_reaches_approved_short_of_four_eyes(
    seq: list[tuple[str, str, bool]], required: int
) -> None:
    r = rec(required)
    for op, who, admin in seq:
        if op == "approve":
            s = w.approve(r, who, AT)
        elif op == "reject":
            s = w.reject(r, who, "why", AT)
        else:
            s = w.cancel(r, who, admin, AT)
        if s.record is not None:
            r = s.record
        if _past_approval(r):
            assert len(w.distinct_approvers(r)) >= max(2, required)
            assert "alice" not in {a["principal"] for a in r["approvals"]}
        assert s.ok == (s.record is not None)


@settings(max_examples=300)
@given(ops, st.integers(min_value=0, max_value=3))
def test_no_sequence_approves_a_batch_item_short_of_four_eyes(
    seq: list[tuple[str, str, bool]], required: int
) -> None:
    b, its = batch(required), items(2)
    for op, who, admin in seq:
        if op == "approve":
            s = w.approve_batch(b, its, who, AT)
        elif op == "reject":
            s = w.reject_batch(b, its, who, "why", AT)
        else:
            s = w.cancel_batch(b, its, who, admin, AT)
        if s.record is not None:
            b = s.record
            changed = {i["id"]: i for i in s.items}
            its = [changed.get(i["id"], i) for i in its]
        for i in its:
            if i["status"] == w.APPROVED:
                assert len(w.distinct_approvers(i)) >= max(2, required)
                assert b["status"] == w.APPROVED


def test_records_and_events_match_the_published_schemas() -> None:
    from schemas.withdrawal import Withdrawal, WithdrawalEvent

    wid = w.withdrawal_id("alice", "idem-1")
    assert wid == w.withdrawal_id("alice", "idem-1") != w.withdrawal_id("bob", "idem-1")
    r = w.new_withdrawal(
        wid=wid,
        wallet_id="wal_1",
        chain="local",
        sender="0x" + "11" * 20,
        user_ref=None,
        path="m/44'/60'/0'/1/0",
        to="0x" + "22" * 20,
        asset={
            "kind": "native",
            "contract": None,
            "symbol": "ETH",
            "decimals": 18,
            "token_id": None,
        },
        amount=10**18,
        requested_by="alice",
        required=1,
        at=AT,
    )
    assert r["approvals_required"] == 2 and r["amount"] == "1000000000000000000"
    Withdrawal.model_validate(w.public(r), strict=False)
    for step in (
        w.approve(r, "bob", AT),
        w.approve(w.approve(r, "bob", AT).record or {}, "carol", AT),
    ):
        assert step.record is not None
        WithdrawalEvent.model_validate(
            w.event(step.record, "withdrawal.approved", AT), strict=False
        )
    assert "path" not in w.public(r)
    b = w.new_batch(
        bid=w.batch_id("alice", "idem-1"),
        wallet_id="wal_1",
        chain="local",
        sender="0x" + "11" * 20,
        requested_by="alice",
        required=2,
        at=AT,
        item_ids=[w.item_id("wbt_1", i) for i in range(2)],
    )
    assert w.public_batch(b, [r])["items"][0]["id"] == wid
