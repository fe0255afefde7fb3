"""Withdrawals end to end on the shared stack with the real blockhook-signer process: four
eyes with the contract's codes, ETH and ERC20 paid out and confirmed, a batch of 50 with
consecutive nonces, the signer down and up, a policy that refuses, a reorg of a
withdrawal's block, and a treasury whose balance equals the chain's."""

from __future__ import annotations

import os
import secrets
import signal
import time
from typing import Any

import pytest

from core.faults import FAULTS_ENV
from dev import chaintools as ct
from dev.devstack import DevStack
from schemas.withdrawal import WithdrawalEvent
from tests.e2e.conftest import api
from tests.e2e.custody import Custody, fresh_address
from tests.e2e.receiver import Receiver
from tests.e2e.test_pipeline import FUNDER
from tests.e2e.traffic import wait_until

pytestmark = pytest.mark.e2e


def test_signer_reports_its_wallet_once_with_a_watched_treasury(custody: Custody) -> None:
    w = custody.wallet
    assert w["source"] == "signer" and w["chain"] == "local"
    assert w["treasury"].startswith("0x") and len(w["treasury"]) == 42
    # a restarted signer reports its key again and finds the same wallet (no second one)
    log = custody.signer.log
    reports = log.read_text().count(f"wallet {w['id']}")
    assert reports >= 1
    custody.signer.stop()
    custody.stack.start_signer()
    wait_until(
        lambda: log.read_text().count(f"wallet {w['id']}") > reports, 30, "the second report"
    )
    _, listed = api(custody.stack, "GET", "/v1/wallets?limit=1000")
    mine = [x for x in listed["items"] if x.get("source") == "signer"]
    assert sorted(x["chain"] for x in mine) == ["flaky", "local", "second"]  # one per chain
    assert [x["id"] for x in mine if x["chain"] == "local"] == [w["id"]]


def nonce_of(rpc: str, who: str) -> int:
    return int(ct.rpc(rpc, "eth_getTransactionCount", who, "latest"), 16)


def test_four_eyes_codes_and_nothing_on_chain_with_one_approval(custody: Custody) -> None:
    to = fresh_address()
    nonce_before = nonce_of(custody.rpc, custody.treasury)
    rec = custody.request(to, 10**15)
    wid = rec["id"]
    status, body = custody.decide(custody.alice, wid)
    assert status == 403 and body["error"]["code"] == "self_approval", body
    status, body = custody.decide(custody.bob, wid)
    assert status == 200 and body["status"] == "pending_approval", body
    status, body = custody.decide(custody.bob2, wid)
    assert status == 409 and body["error"]["code"] == "already_approved", body
    # one approval: nothing signed, nothing sent (a marker withdrawal that must go proves
    # the agent is past this one before we look)
    marker = custody.request(fresh_address(), 1)
    custody.approve_twice(marker["id"])
    custody.until(marker["id"], "confirmed")
    assert custody.get(wid)["status"] == "pending_approval"
    assert ct.eth_balance(custody.rpc, to) == 0
    assert nonce_of(custody.rpc, custody.treasury) == nonce_before + 1  # the marker's only
    # rejected, then an approval: not_pending
    status, body = custody.decide(custody.carol, wid, "reject")
    assert status == 200 and body["status"] == "rejected", body
    status, body = custody.decide(custody.carol, wid)
    assert status == 409 and body["error"]["code"] == "not_pending", body


def test_eth_withdrawal_is_signed_broadcast_and_confirmed(custody: Custody) -> None:
    to = fresh_address()
    rec = custody.request(to, 123_456_789)
    custody.approve_twice(rec["id"])
    done = custody.until(rec["id"], "confirmed")
    assert ct.eth_balance(custody.rpc, to) == 123_456_789
    rcpt = ct.receipt(custody.rpc, done["tx_hash"])
    assert rcpt is not None and ct.succeeded(rcpt)
    assert [a["principal"] for a in done["approvals"]] == ["bob", "carol"]
    assert int(done["fee"]) > 0 and done["confirmations"] >= 3


def test_events_reach_the_wallets_webhooks_and_every_step_is_audited(
    custody: Custody, receiver: Receiver
) -> None:
    status, mon = api(
        custody.stack,
        "POST",
        "/v1/monitors",
        {
            "chain": "local",
            "wallet_ids": [custody.wallet["id"]],
            "webhook": {"url": receiver.url + "/wd"},
        },
    )
    assert status == 201, mon
    rec = custody.request(fresh_address(), 5150)
    custody.approve_twice(rec["id"])
    done = custody.until(rec["id"], "confirmed")
    want = ["requested", "approved", "broadcast", "confirmed"]

    def mine(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [e for e in evs if e.get("withdrawal_id") == rec["id"]]

    evs = receiver.wait_for(lambda evs: len(mine(evs)) >= len(want), 60, "/wd")
    got = mine(evs)
    assert [e["type"] for e in got] == [f"withdrawal.{t}" for t in want]
    for e in got:
        WithdrawalEvent.model_validate(e)
        assert e["wallet_id"] == custody.wallet["id"] and e["amount"] == "5150"
    assert got[-1]["tx_hash"] == done["tx_hash"] and got[-1]["status"] == "confirmed"
    assert len({e["id"] for e in got}) == len(got)

    # the platform's own steps are audited under `system`, the people's under their names
    def audited() -> set[tuple[str, str]] | None:
        status, audit = api(custody.stack, "GET", f"/v1/audit?target={rec['id']}&limit=100")
        assert status == 200, audit
        acts = {(a["principal"], a["action"]) for a in audit["items"]}
        return acts if ("system", "withdrawal.confirmed") in acts else None

    actions: set[tuple[str, str]] = wait_until(audited, 30, "the confirmation audited")
    for who in ("bob", "carol"):
        assert any(p == who and "approve" in act for p, act in actions), actions
    for act in ("withdrawal.signed", "withdrawal.broadcast", "withdrawal.confirmed"):
        assert ("system", act) in actions, actions
    status, verified = api(custody.stack, "GET", "/v1/audit/verify")
    assert status == 200 and verified["ok"] is True, verified


def test_a_customers_own_address_pays_and_its_balance_follows(custody: Custody) -> None:
    """`from: {user_ref}`: the customer's deposit address (m/44'/60'/0'/0/i, signed by the
    signer at that path) pays; its confirmed balance goes down by the amount and the fee."""
    stack, wid = custody.stack, custody.wallet["id"]
    status, a = api(stack, "POST", f"/v1/wallets/{wid}/addresses", {"user_ref": "payer-1"})
    assert status == 200 and a["path"].startswith("m/44'/60'/0'/0/"), a
    ct.wait_success(custody.rpc, ct.send_eth(custody.rpc, FUNDER, a["address"], 10**17))
    ct.mine(custody.rpc, 3)

    def balance() -> int:
        status, b = api(stack, "GET", f"/v1/balances?wallet_id={wid}&user_ref=payer-1")
        assert status == 200, b
        return sum(int(i["amount"]) for i in b["items"] if i["asset"]["kind"] == "native")

    wait_until(lambda: balance() == 10**17, 60, "the customer's deposit")
    to = fresh_address()
    body = {"wallet_id": wid, "to": to, "asset": "native", "amount": str(10**16)}
    body["from"] = {"user_ref": "payer-1"}
    status, rec = custody.alice.call(
        "POST", "/v1/withdrawals", body, headers={"idempotency-key": secrets.token_hex(8)}
    )
    assert status == 201 and rec["from"] == a["address"] and rec["user_ref"] == "payer-1", rec
    custody.approve_twice(rec["id"])
    done = custody.until(rec["id"], "confirmed")
    assert ct.eth_balance(custody.rpc, to) == 10**16
    on_chain = ct.eth_balance(custody.rpc, a["address"])
    assert on_chain == 10**17 - 10**16 - int(done["fee"])
    wait_until(lambda: balance() == on_chain, 60, "the customer's balance to follow")


def test_erc20_withdrawal_is_confirmed(custody: Custody) -> None:
    token = ct.deploy_token(custody.rpc, FUNDER)
    ct.wait_success(custody.rpc, ct.mint(custody.rpc, token, FUNDER, custody.treasury, 10**9))
    ct.mine(custody.rpc, 3)
    wait_until(lambda: custody.treasury_balance("erc20", token) == 10**9, 60, "tokens arrived")
    to = fresh_address()
    rec = custody.request(to, 250_000, {"kind": "erc20", "contract": token})
    custody.approve_twice(rec["id"])
    custody.until(rec["id"], "confirmed")
    assert ct.token_balance(custody.rpc, token, to) == 250_000
    wait_until(
        lambda: custody.treasury_balance("erc20", token) == 10**9 - 250_000, 60, "token balance"
    )


def test_batch_of_50_gets_50_consecutive_nonces(custody: Custody) -> None:
    items = [{"to": fresh_address(), "asset": "native", "amount": str(1000 + i)} for i in range(50)]
    status, batch = custody.alice.call(
        "POST",
        "/v1/withdrawal-batches",
        {"wallet_id": custody.wallet["id"], "items": items},
        headers={"idempotency-key": secrets.token_hex(8)},
    )
    assert status == 201, batch
    for who in (custody.bob, custody.carol):
        status, body = custody.decide(who, batch["id"])
        assert status == 200, body

    def all_confirmed() -> list[dict[str, Any]] | None:
        status, b = api(custody.stack, "GET", f"/v1/withdrawal-batches/{batch['id']}")
        assert status == 200, b
        got: list[dict[str, Any]] = b["items"]
        assert [r["id"] for r in got] == [i["id"] for i in batch["items"]]
        if all(r["status"] == "confirmed" for r in got):
            return got
        time.sleep(0.5)
        ct.mine(custody.rpc)
        return None

    recs: list[dict[str, Any]] = wait_until(all_confirmed, 240, "the batch confirmed")
    nonces = sorted(r["nonce"] for r in recs)
    assert nonces == list(range(nonces[0], nonces[0] + 50))
    for item, r in zip(items, recs, strict=True):
        assert ct.eth_balance(custody.rpc, item["to"]) == int(item["amount"])
        assert r["batch_id"] == batch["id"]


def test_signer_down_while_approved_then_up_signs_what_waited(custody: Custody) -> None:
    custody.signer.stop()
    to = fresh_address()
    rec = custody.request(to, 777)
    custody.approve_twice(rec["id"])
    wait_until(lambda: custody.get(rec["id"])["status"] == "signing", 30, "signing")
    custody.stack.start_signer()
    custody.until(rec["id"], "confirmed")
    assert ct.eth_balance(custody.rpc, to) == 777


def test_policy_refusal_fails_the_withdrawal_with_signer_refused(custody: Custody) -> None:
    policy = custody.stack.cfg.root / "strict-policy.toml"
    policy.write_text('min_approvals = 2\n[assets.native]\nmax_per_tx = "1000"\n')
    custody.signer.stop()
    custody.stack.start_signer(policy=policy)
    try:
        rec = custody.request(fresh_address(), 5000)
        custody.approve_twice(rec["id"])
        failed = custody.until(rec["id"], "failed")
        assert failed["error"].startswith("signer_refused:"), failed
        # the refused nonce is not a gap: the next one (within the limit) goes through
        ok = custody.request(fresh_address(), 999)
        custody.approve_twice(ok["id"])
        custody.until(ok["id"], "confirmed")
    finally:
        custody.signer.stop()
        custody.stack.start_signer()


def test_reorg_of_the_withdrawals_block_rebroadcasts_the_same_bytes(custody: Custody) -> None:
    to = fresh_address()
    rec = custody.request(to, 4242)
    custody.approve_twice(rec["id"])
    sent = wait_until(
        lambda: (r := custody.get(rec["id"]))["status"] == "broadcast" and r["confirmations"] and r,
        60,
        "mined",
    )
    ct.rpc(custody.rpc, "anvil_reorg", 1, [])  # its block is replaced by an empty one
    assert ct.receipt(custody.rpc, sent["tx_hash"]) is None
    log = custody.stack.cfg.root / "logs/worker.log"
    line = f"withdrawal {rec['id']}: the same bytes sent again"
    wait_until(lambda: line in log.read_text(errors="replace"), 60, "the rebroadcast")
    done = custody.until(rec["id"], "confirmed", 120)
    assert done["tx_hash"] == sent["tx_hash"]  # the same transaction, not a second one
    assert ct.eth_balance(custody.rpc, to) == 4242


def _restart_worker(stack: DevStack, faults: str | None) -> None:
    stack.kill_worker()
    if faults:
        os.environ[FAULTS_ENV] = faults
    try:
        stack.start_worker()
    finally:
        os.environ.pop(FAULTS_ENV, None)
    stack.wait_ready()


@pytest.mark.parametrize(
    "point", ["withdrawal_after_ask", "withdrawal_before_send", "withdrawal_after_send"]
)
def test_kill_9_around_the_broadcast_leaves_one_transaction(custody: Custody, point: str) -> None:
    """kill -9 of the worker just after the signing request went out, between signing and
    broadcast, and between broadcast and the record of it: after the restart the withdrawal
    has exactly one transaction on chain (and is not stuck: the signer, which may have
    signed the request already, is asked for the same transaction, never another)."""
    stack = custody.stack
    _restart_worker(stack, point)
    to = fresh_address()
    nonce_before = nonce_of(custody.rpc, custody.treasury)
    rec = custody.request(to, 31337)
    assert custody.decide(custody.bob, rec["id"])[0] == 200
    try:
        custody.decide(custody.carol, rec["id"])
    except OSError:  # after_ask: the worker dies while its API still waits to answer
        assert point == "withdrawal_after_ask"
    assert stack.worker is not None
    wait_until(lambda: stack.worker is not None and stack.worker.poll() is not None, 60, "kill")
    assert stack.worker.returncode == -signal.SIGKILL
    on_chain = nonce_of(custody.rpc, custody.treasury) - nonce_before
    assert on_chain == (1 if point == "withdrawal_after_send" else 0)
    _restart_worker(stack, None)
    done = custody.until(rec["id"], "confirmed", 120)
    assert nonce_of(custody.rpc, custody.treasury) == nonce_before + 1
    assert ct.eth_balance(custody.rpc, to) == 31337
    tx = ct.rpc(custody.rpc, "eth_getTransactionByHash", done["tx_hash"])
    assert int(tx["nonce"], 16) == done["nonce"] == nonce_before


def test_treasury_balance_equals_the_chains(custody: Custody) -> None:
    ct.mine(custody.rpc, 3)
    wait_until(
        lambda: custody.treasury_balance() == ct.eth_balance(custody.rpc, custody.treasury),
        60,
        "the treasury balance to match the chain",
    )
