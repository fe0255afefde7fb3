"""The withdrawals planner driven as the agent drives it, in memory: request, approvals,
nonces, signer answers, broadcast, receipts; a batch gets consecutive nonces."""

from __future__ import annotations

from typing import Any

from streams import withdrawal as w
from streams import withdrawalplan as wp
from streams.txnonce import Book, take
from streams.withdrawalexec import Receipt

AT = "2026-12-02T12:00:00Z"
SENDER = "0x" + "11" * 20
SKEY = wp.sender_key("local", SENDER)
NATIVE = {"kind": "native", "contract": None, "symbol": "ETH", "decimals": 18, "token_id": None}


class Agent:
    """The agent's tables and the fold of plans, without Kafka or a node."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.book = Book()
        self.events: list[dict[str, Any]] = []
        self.signing: dict[str, dict[str, Any]] = {}
        self.sent: list[str] = []
        self.node_pending = 0
        self.commands = 0

    def apply(self, plan: wp.Plan) -> dict[str, Any] | None:
        for r in plan.records:
            self.records[r["id"]] = r
        if plan.batch is not None:
            self.batches[plan.batch["id"]] = plan.batch
        if plan.book is not None:
            self.book = plan.book[1]
        self.events += plan.events
        for sid in plan.clear_signing:
            self.signing.pop(sid, None)
        if plan.broadcast is not None:
            self.sent.append(plan.broadcast["raw"])
            self.node_pending += 1
            self.apply(wp.plan_sent(plan.broadcast, True, "", AT))
        return plan.decision

    def command(self, cmd: dict[str, Any]) -> dict[str, Any] | None:
        self.commands += 1
        cmd = {"command_id": f"cmd_{self.commands}", "at": AT, **cmd}
        t = cmd["type"]
        if t == "request":
            d = self.apply(wp.plan_request(cmd, self.records.get, 2))
        elif t == "request_batch":
            d = self.apply(wp.plan_request_batch(cmd, self.records.get, self.batches.get, 2))
        elif t in ("approve", "reject", "cancel"):
            d = self.apply(wp.plan_decide(cmd, self.records.get, self.batches.get, self.book, SKEY))
        else:
            d = self.apply(wp.plan_answer(cmd, self.records.get, self.book, SKEY, check))
        self.prepare()
        return d

    def prepare(self) -> None:
        wid, book = wp.next_to_prepare(self.book)
        if wid is None:
            return
        nonce, book = take(book, self.node_pending)
        tx = {"nonce": nonce, "maxFeePerGas": "2", "maxPriorityFeePerGas": "1", "to": "x"}
        plan, rec = wp.plan_start_signing(self.records[wid], book, SKEY, tx, AT)
        self.apply(plan)
        if rec is not None:
            req = wp.signing_request(rec, 31337)
            self.signing[req["id"]] = req


def check(raw: str, tx: dict[str, Any], sender: str) -> str:
    """A stand-in for the signed-transaction check: 'raw' is 'ok:<nonce>' or 'bad'."""
    if raw != f"0xok{tx['nonce']}":
        raise ValueError("nonce is not the one asked for")
    return "0x" + f"{tx['nonce']:064x}"


def request(wid: str = "wdr_1", by: str = "alice") -> dict[str, Any]:
    rec = w.new_withdrawal(
        wid=wid,
        wallet_id="wal_1",
        chain="local",
        sender=SENDER,
        user_ref=None,
        path="m/44'/60'/0'/1/0",
        to="0x" + "22" * 20,
        asset=NATIVE,
        amount=5,
        requested_by=by,
        required=2,
        at=AT,
    )
    return {"type": "request", "withdrawal": rec}


def sign_all(a: Agent, ok: bool = True) -> None:
    while a.signing:
        req = next(iter(a.signing.values()))
        raw = f"0xok{req['tx']['nonce']}"
        answer = (
            {"type": "signed", "signed_tx": raw} if ok else {"type": "refused", "reason": "policy"}
        )
        a.command(
            {
                **answer,
                "signing_id": req["id"],
                "withdrawal_id": req["withdrawal"]["id"],
            }
        )


def test_full_flow_to_confirmed() -> None:
    a = Agent()
    d = a.command(request())
    assert d is not None and d["ok"] and d["status"] == 201
    assert d["answer"]["status"] == w.PENDING
    a.command({"type": "approve", "target": "wdr_1", "principal": "bob"})
    assert a.signing == {}  # one approval: nothing goes to the signer
    d = a.command({"type": "approve", "target": "wdr_1", "principal": "bob"})
    assert d is not None and d["code"] == "already_approved" and d["status"] == 409
    d = a.command({"type": "approve", "target": "wdr_1", "principal": "alice"})
    assert d is not None and d["code"] == "self_approval" and d["status"] == 403
    a.command({"type": "approve", "target": "wdr_1", "principal": "carol"})
    assert len(a.signing) == 1
    req = next(iter(a.signing.values()))
    assert req["withdrawal"]["status"] == w.SIGNING and req["tx"]["nonce"] == 0
    assert len(req["withdrawal"]["approvals"]) == 2 and req["path"] == "m/44'/60'/0'/1/0"
    sign_all(a)
    r = a.records["wdr_1"]
    assert r["status"] == w.BROADCAST and r["tx_hash"] == "0x" + "0" * 64 and a.sent == ["0xok0"]
    plan, book = wp.plan_receipt(r, Receipt(5, "0xb", 1, 21), 6, 2, 4, a.book, SKEY, AT)
    a.apply(plan)
    assert a.records["wdr_1"]["status"] == w.CONFIRMED and a.book.inflight == ("wdr_1",)
    plan, book = wp.plan_receipt(
        a.records["wdr_1"], Receipt(5, "0xb", 1, 21), 8, 2, 4, book, SKEY, AT
    )
    assert book.inflight == ()
    types = [e["type"] for e in a.events]
    assert types == [
        "withdrawal.requested",
        "withdrawal.approved",
        "withdrawal.broadcast",
        "withdrawal.confirmed",
    ]
    assert len({e["id"] for e in a.events}) == 4


def test_a_repeated_request_changes_nothing_and_topic_writers_cannot_preapprove() -> None:
    a = Agent()
    cmd = request()
    cmd["withdrawal"] = {
        **cmd["withdrawal"],
        "status": w.APPROVED,
        "approvals": [{"principal": "x", "at": AT}],
    }
    d = a.command(cmd)
    assert d is not None and d["answer"]["status"] == w.PENDING and d["answer"]["approvals"] == []
    assert a.signing == {}
    before = dict(a.records)
    d = a.command(request())
    # a replay says it again (under the same event id) and changes nothing
    assert d is not None and d["ok"] and a.records == before
    assert len(a.events) == 2 and len({e["id"] for e in a.events}) == 1
    other = request(by="mallory")
    d = a.command(other)
    assert d is not None and d["code"] == "conflict"


def test_refused_nonce_is_reused_by_the_next_withdrawal() -> None:
    a = Agent()
    for wid in ("wdr_1", "wdr_2"):
        a.command(request(wid))
        for p in ("bob", "carol"):
            a.command({"type": "approve", "target": wid, "principal": p})
    assert [r["tx"]["nonce"] for r in a.signing.values()] == [0]  # one at a time
    sign_all(a, ok=False)  # refuses wdr_1, then wdr_2 at the same nonce
    assert a.records["wdr_1"]["error"] == "signer_refused: policy"
    assert a.records["wdr_2"]["status"] == w.FAILED
    a.command(request("wdr_3"))
    for p in ("bob", "carol"):
        a.command({"type": "approve", "target": "wdr_3", "principal": p})
    sign_all(a)
    assert a.records["wdr_3"]["nonce"] == 0 and a.sent == ["0xok0"]


def test_a_signer_that_lies_is_caught_and_nothing_is_sent() -> None:
    a = Agent()
    a.command(request())
    for p in ("bob", "carol"):
        a.command({"type": "approve", "target": "wdr_1", "principal": p})
    req = next(iter(a.signing.values()))
    a.command(
        {"type": "signed", "signed_tx": "0xbad", "signing_id": req["id"], "withdrawal_id": "wdr_1"}
    )
    r = a.records["wdr_1"]
    assert r["status"] == w.FAILED and r["error"].startswith("signer_mismatch: nonce")
    assert a.sent == [] and a.book.free == (0,)
    # A late answer to the same request is refused, not applied
    d = a.command(
        {"type": "signed", "signed_tx": "0xok0", "signing_id": req["id"], "withdrawal_id": "wdr_1"}
    )
    assert d is not None and d["code"] == "not_pending" and a.sent == []


def test_a_batch_of_50_gets_50_consecutive_nonces_with_one_approval() -> None:
    a = Agent()
    a.node_pending = 7
    bid = w.batch_id("alice", "k")
    items = [request(w.item_id(bid, i))["withdrawal"] for i in range(50)]
    batch = w.new_batch(
        bid=bid,
        wallet_id="wal_1",
        chain="local",
        sender=SENDER,
        requested_by="alice",
        required=2,
        at=AT,
        item_ids=[i["id"] for i in items],
    )
    d = a.command({"type": "request_batch", "batch": batch, "items": items})
    assert d is not None and len(d["answer"]["items"]) == 50
    d = a.command({"type": "approve", "target": items[0]["id"], "principal": "bob"})
    assert d is not None and d["code"] == "in_batch"
    a.command({"type": "approve", "target": bid, "principal": "bob"})
    a.command({"type": "approve", "target": bid, "principal": "carol"})
    sign_all(a)
    nonces = [a.records[i["id"]]["nonce"] for i in items]
    assert nonces == list(range(7, 57))
    assert all(a.records[i["id"]]["status"] == w.BROADCAST for i in items)
    assert len(a.sent) == 50


def test_cancel_before_signing_leaves_the_queue() -> None:
    a = Agent()
    for wid in ("wdr_1", "wdr_2"):
        a.command(request(wid))
        for p in ("bob", "carol"):
            a.command({"type": "approve", "target": wid, "principal": p})
    d = a.command({"type": "cancel", "target": "wdr_2", "principal": "alice"})
    assert d is not None and d["answer"]["status"] == w.CANCELLED
    assert a.book.queue == ()
    d = a.command({"type": "cancel", "target": "wdr_1", "principal": "alice"})
    assert d is not None and d["code"] == "not_pending"  # at the signer already
    d = a.command({"type": "approve", "target": "wdr_9", "principal": "bob"})
    assert d is not None and d["code"] == "not_found" and d["status"] == 404


def test_reconcile_mends_a_book_a_crash_left_behind_its_record() -> None:
    """Record written, book not (a changelog prefix): the book is put right, never a nonce
    handed out twice or a gap left."""
    tx = {"nonce": 4}
    book = Book(next=4, signing="wdr_1")
    rec = {"id": "wdr_1", "status": w.SIGNING, "tx": tx}
    b, what = wp.reconcile(book, rec)
    assert what == "ask" and b.next == 5 and b.signing == "wdr_1"
    b, what = wp.reconcile(book, {**rec, "raw": "0x02", "signed_hash": "0x" + "00" * 32})
    assert what == "broadcast" and b.signing is None and b.inflight == ("wdr_1",)
    assert b.next == 5
    b, what = wp.reconcile(book, {**rec, "status": w.FAILED, "nonce": None})
    assert what == "skip" and b.signing is None and take(b, 0)[0] == 4
    b, what = wp.reconcile(book, {"id": "wdr_1", "status": w.APPROVED})
    assert what == "prepare" and b == book
    b, what = wp.reconcile(book, None)
    assert what == "skip" and b.signing is None
    assert wp.reconcile(Book(), None) == (Book(), "skip")


def test_a_replayed_approval_mends_what_a_crash_left_unwritten() -> None:
    """The approval's record was kept but not the book (or its messages never went out):
    the same command again queues it and says it again, and approves nothing twice."""
    a = Agent()
    a.command(request("wdr_1"))
    a.command({"type": "approve", "target": "wdr_1", "principal": "bob"})
    book = a.book
    cmd = {"command_id": "cmd_x", "at": AT, "type": "approve", "target": "wdr_1"}
    cmd["principal"] = "carol"
    plan = wp.plan_decide(cmd, a.records.get, a.batches.get, a.book, SKEY)
    a.apply(plan)
    assert a.records["wdr_1"]["status"] == w.APPROVED and a.book.queue == ("wdr_1",)
    a.book = book  # the crash: the record is written, the book is not
    again = wp.plan_decide(cmd, a.records.get, a.batches.get, a.book, SKEY)
    assert again.decision is not None and again.decision["ok"]
    assert again.book is not None and again.book[1].queue == ("wdr_1",)
    assert [e["type"] for e in again.events] == ["withdrawal.approved"]
    assert again.events[0]["id"] == plan.events[0]["id"]
    assert len(again.records[0]["approvals"]) == 2
    # another command of the same principal is still refused
    other = {**cmd, "command_id": "cmd_y"}
    d = wp.plan_decide(other, a.records.get, a.batches.get, a.book, SKEY).decision
    assert d is not None and d["code"] == "not_pending"


def test_a_sender_key_splits_back_into_chain_and_address() -> None:
    assert wp.split_sender_key(SKEY) == ("local", SENDER)
