"""The execution half of the withdrawal state machine: signing, broadcast, receipts.

Pure like its approval half (streams.withdrawal): each function takes the agent's record of
a withdrawal and returns a Step. The rules that keep money from leaving twice live here: a
withdrawal gets one nonce and one signed transaction, whose bytes are the only ones ever
sent for it (again after a crash or a reorg); once it has a transaction it fails only when
the chain says so."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from streams.withdrawal import APPROVED, BROADCAST, CONFIRMED, FAILED, SIGNING, Step, refuse


def signing_id(withdrawal_id: str, tx: dict[str, Any]) -> str:
    """sig_<hex>: one id per withdrawal and unsigned transaction (a fee replacement is a new
    request), so an answer to an older request can be told apart."""
    raw = "\x00".join(
        [withdrawal_id, str(tx["nonce"]), str(tx["maxFeePerGas"]), str(tx["maxPriorityFeePerGas"])]
    )
    return "sig_" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def start_signing(rec: dict[str, Any], tx: dict[str, Any], at: str) -> Step:
    """An approved withdrawal got its nonce and its unsigned transaction: ask the signer."""
    if rec["status"] != APPROVED:
        return refuse("not_pending", f"it is {rec['status']}, not approved")
    new = {
        **rec,
        "status": SIGNING,
        "nonce": int(tx["nonce"]),
        "tx": tx,
        "signing_id": signing_id(rec["id"], tx),
        "updated_at": at,
    }
    return Step(new)


def fail_unprepared(rec: dict[str, Any], error: str, at: str) -> Step:
    """It could not be prepared (the node refuses to estimate it): failed, no nonce used."""
    if rec["status"] != APPROVED:
        return refuse("not_pending", f"it is {rec['status']}, not approved")
    new = {**rec, "status": FAILED, "error": error, "updated_at": at}
    return Step(new, ("withdrawal.failed",))


def _answering(rec: dict[str, Any], sid: str) -> Step | None:
    """None when `sid` is the request the withdrawal waits on; a refusal otherwise."""
    if rec["status"] != SIGNING or rec.get("signing_id") != sid or rec.get("raw"):
        return refuse("not_pending", "this signing request is not waiting for an answer")
    return None


def signer_refused(rec: dict[str, Any], sid: str, reason: str, at: str) -> Step:
    """The signer said no: failed, and its nonce goes back to the allocator."""
    bad = _answering(rec, sid)
    if bad is not None:
        return bad
    error = "signer_refused: " + (reason.strip()[:500] or "no reason given")
    new = {**rec, "status": FAILED, "error": error, "nonce": None, "updated_at": at}
    return Step(new, ("withdrawal.failed",))


def signer_mismatch(rec: dict[str, Any], sid: str, problem: str, at: str) -> Step:
    """The signer returned a transaction that is not the one asked for: nothing is sent,
    failed, and the nonce goes back (the bytes are never broadcast)."""
    bad = _answering(rec, sid)
    if bad is not None:
        return bad
    error = "signer_mismatch: " + problem[:500]
    new = {**rec, "status": FAILED, "error": error, "nonce": None, "updated_at": at}
    return Step(new, ("withdrawal.failed",))


def signed(rec: dict[str, Any], sid: str, raw: str, tx_hash: str, at: str) -> Step:
    """The checked signed transaction: kept (before it is ever broadcast) as the only bytes
    of this withdrawal."""
    bad = _answering(rec, sid)
    if bad is not None:
        return bad
    return Step({**rec, "raw": raw, "signed_hash": tx_hash, "updated_at": at})


def sent(rec: dict[str, Any], at: str) -> Step:
    """The node took the bytes (or already had them): broadcast."""
    if rec["status"] != SIGNING or not rec.get("raw"):
        return refuse("not_pending", f"it is {rec['status']}: nothing to broadcast")
    new = {**rec, "status": BROADCAST, "tx_hash": rec["signed_hash"], "error": None}
    new["updated_at"] = at
    return Step(new, ("withdrawal.broadcast",))


def send_failed(rec: dict[str, Any], error: str, at: str) -> Step:
    """The node did not take the bytes: keep them and try again later (never re-sign)."""
    return Step({**rec, "error": "broadcast_pending: " + error[:300], "updated_at": at})


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the node says of the withdrawal's transaction."""

    block_number: int
    block_hash: str
    status: int  # 1 success, 0 reverted
    fee: int  # gas used times the effective gas price, in base units of the native coin


def on_receipt(
    rec: dict[str, Any], receipt: Receipt | None, head: int, threshold: int, at: str
) -> Step:
    """Follow a sent transaction: confirmations, confirmed, failed on chain, or dropped by a
    reorg (back to broadcast, the same bytes to be sent again; `resend` is set)."""
    status = rec["status"]
    if status not in (BROADCAST, CONFIRMED) and not (status == FAILED and rec.get("block_hash")):
        return Step(None)
    if receipt is None:
        if rec.get("block_hash") is None:
            return Step(None)  # still in the pool, as far as we know
        new = {
            **rec,
            "status": BROADCAST,
            "confirmations": 0,
            "block_number": None,
            "block_hash": None,
            "fee": None,
            "resend": True,
            "updated_at": at,
        }
        return Step(new, ("withdrawal.broadcast",) if status != BROADCAST else ())
    confirmations = max(0, head - receipt.block_number + 1)
    new = {
        **rec,
        "confirmations": confirmations,
        "block_number": receipt.block_number,
        "block_hash": receipt.block_hash,
        "fee": str(receipt.fee),
        "resend": False,
    }
    events: tuple[str, ...] = ()
    if confirmations >= threshold and status == BROADCAST:
        if receipt.status == 1:
            new["status"], events = CONFIRMED, ("withdrawal.confirmed",)
        else:
            new["status"], events = FAILED, ("withdrawal.failed",)
            new["error"] = "reverted: the transaction was mined and reverted (its fee is paid)"
    changed = any(new.get(k) != rec.get(k) for k in ("confirmations", "block_hash", "status"))
    if not changed:
        return Step(None)
    new["updated_at"] = at
    return Step(new, events)


def is_final(rec: dict[str, Any], head: int, finality_depth: int) -> bool:
    """Deep enough that no reorg can undo it: stop following it."""
    if rec["status"] not in (CONFIRMED, FAILED) or rec.get("block_number") is None:
        return rec["status"] == FAILED and not rec.get("tx_hash")
    return head - int(rec["block_number"]) + 1 >= finality_depth
