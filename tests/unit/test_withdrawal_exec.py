"""The execution half: signing, broadcast, receipts, reorgs: one transaction per withdrawal."""

from __future__ import annotations

from typing import Any

from streams import withdrawal as w
from streams.withdrawalexec import (
    Receipt,
    fail_unprepared,
    is_final,
    on_receipt,
    send_failed,
    sent,
    signed,
    signer_mismatch,
    signer_refused,
    signing_id,
    start_signing,
)

AT = "2026-12-02T12:00:00Z"
TX = {"nonce": 4, "maxFeePerGas": "200", "maxPriorityFeePerGas": "1", "to": "0x" + "22" * 20}


def approved() -> dict[str, Any]:
    return {"id": "wdr_1", "status": w.APPROVED, "nonce": None, "tx_hash": None, "error": None}


def at_signer() -> dict[str, Any]:
    s = start_signing(approved(), TX, AT)
    assert s.record is not None
    return s.record


def test_start_signing_sets_nonce_and_request() -> None:
    r = at_signer()
    assert r["status"] == w.SIGNING and r["nonce"] == 4 and r["tx"] == TX
    assert r["signing_id"] == signing_id("wdr_1", TX)
    assert signing_id("wdr_1", {**TX, "maxFeePerGas": "300"}) != r["signing_id"]
    assert start_signing(r, TX, AT).code == "not_pending"


def test_refusal_fails_it_and_frees_the_nonce() -> None:
    r = at_signer()
    s = signer_refused(r, r["signing_id"], "over max_per_day", AT)
    assert s.record is not None and s.record["status"] == w.FAILED
    assert s.record["error"] == "signer_refused: over max_per_day" and s.record["nonce"] is None
    assert s.events == ("withdrawal.failed",)
    assert signer_refused(r, "sig_other", "x", AT).code == "not_pending"


def test_mismatch_fails_without_sending() -> None:
    r = at_signer()
    s = signer_mismatch(r, r["signing_id"], "recipient 0xaa is not 0xbb", AT)
    assert s.record is not None and s.record["error"].startswith("signer_mismatch: recipient")
    assert s.record["tx_hash"] is None


def test_signed_then_sent_once() -> None:
    r = at_signer()
    s = signed(r, r["signing_id"], "0x02ab", "0xhash", AT)
    assert s.record is not None and s.record["status"] == w.SIGNING and s.record["raw"] == "0x02ab"
    again = signed(s.record, r["signing_id"], "0x02cd", "0xother", AT)
    assert again.code == "not_pending"  # the first bytes are the only bytes
    assert signer_refused(s.record, r["signing_id"], "late", AT).code == "not_pending"
    f = send_failed(s.record, "insufficient funds for gas", AT)
    assert f.record is not None and f.record["status"] == w.SIGNING
    b = sent(f.record, AT)
    assert b.record is not None and b.record["status"] == w.BROADCAST
    assert b.record["tx_hash"] == "0xhash" and b.record["error"] is None
    assert b.events == ("withdrawal.broadcast",)
    assert sent(b.record, AT).code == "not_pending"
    assert sent(r, AT).code == "not_pending"


def broadcast() -> dict[str, Any]:
    r = at_signer()
    r = signed(r, r["signing_id"], "0x02ab", "0xhash", AT).record or {}
    return sent(r, AT).record or {}


def test_receipts_to_confirmed_and_reorg_back() -> None:
    r = broadcast()
    assert on_receipt(r, None, 10, 3, AT).record is None  # still in the pool
    rc = Receipt(block_number=10, block_hash="0xb10", status=1, fee=21000)
    s = on_receipt(r, rc, 10, 3, AT)
    assert s.record is not None and s.record["confirmations"] == 1 and s.events == ()
    assert on_receipt(s.record, rc, 10, 3, AT).record is None  # nothing new
    c = on_receipt(s.record, rc, 12, 3, AT)
    assert c.record is not None and c.record["status"] == w.CONFIRMED
    assert c.events == ("withdrawal.confirmed",) and c.record["fee"] == "21000"
    assert not is_final(c.record, 12, 5) and is_final(c.record, 14, 5)
    d = on_receipt(c.record, None, 12, 3, AT)  # its block left the chain
    assert d.record is not None and d.record["status"] == w.BROADCAST and d.record["resend"]
    assert d.events == ("withdrawal.broadcast",) and d.record["confirmations"] == 0
    assert d.record["tx_hash"] == "0xhash"
    again = on_receipt(d.record, Receipt(13, "0xb13", 1, 21000), 15, 3, AT)
    assert again.record is not None and again.record["status"] == w.CONFIRMED


def test_reverted_on_chain_fails_with_its_fee() -> None:
    r = broadcast()
    s = on_receipt(r, Receipt(10, "0xb", 0, 5000), 12, 3, AT)
    assert s.record is not None and s.record["status"] == w.FAILED
    assert s.record["error"].startswith("reverted") and s.record["fee"] == "5000"
    assert s.record["nonce"] == 4  # the nonce is used


def test_unprepared_fails_without_nonce() -> None:
    s = fail_unprepared(approved(), "gas estimation: execution reverted", AT)
    assert s.record is not None and s.record["status"] == w.FAILED and s.record["nonce"] is None
    assert is_final(s.record, 0, 5)
    assert fail_unprepared(at_signer(), "x", AT).code == "not_pending"
