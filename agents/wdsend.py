"""The withdrawals agent's work with the node: preparing the next transaction of a sender
(nonce, fees, gas), broadcasting signed bytes and following receipts.

It runs inside the agent, in the partition that owns the sender, so one worker at a time
does this for a sender. Decisions are the planner's (streams.withdrawalplan); here are the
node's answers and the order of effects: the signed bytes are on withdrawals.txs before
they are sent, and they are the only bytes ever sent for their withdrawal."""

from __future__ import annotations

import logging
import time
from typing import Any

from agents import wdstore as store
from chain.rpc import RpcClient
from chain.txnode import RpcTxNode, TxNode
from core import faults
from core.errors import RpcError
from core.settings import ChainSettings
from core.timefmt import iso_utc
from faust_app import settings
from streams import withdrawal as w
from streams import withdrawalplan as wp
from streams.txbuild import FeeError, fee_plan, gas_limit, unsigned_tx
from streams.txcheck import TxCheckError, classify_send_error, parse_receipt
from streams.txnonce import Book, take
from streams.withdrawalexec import Receipt

logger = logging.getLogger(__name__)

_nodes: dict[str, TxNode] = {}
_last_sent: dict[str, float] = {}  # withdrawal id → when its bytes last went out
_last_asked: dict[str, float] = {}  # signing id → when it was last published


def node_for(chain: ChainSettings) -> TxNode:
    """The chain's node (one client per process)."""
    n = _nodes.get(chain.name)
    if n is None:
        rpc = RpcClient(chain.rpc_urls, timeout_s=chain.rpc_timeout_s, chain=chain.name)
        n = _nodes[chain.name] = RpcTxNode(rpc)
    return n


def _now() -> str:
    return iso_utc(time.time())


async def _build(chain: ChainSettings, rec: dict[str, Any], book: Book) -> Any:
    """The unsigned transaction of an approved withdrawal and the book with its nonce
    taken; or the error that fails it (a str); or None when the node cannot answer now
    (tried again on the next tick)."""
    node = node_for(chain)
    asset = rec.get("asset") or {}
    kind, contract = str(asset.get("kind")), asset.get("contract")
    sender, to, amount = str(rec["from"]), str(rec["to"]), int(rec["amount"])
    s = settings.withdrawals
    try:
        hint, history = await node.fee_data()
        fees = fee_plan(hint, history, s.max_fee_per_gas, s.min_priority_fee)
        draft = unsigned_tx(chain.chain_id, 0, sender, to, kind, contract, amount, 0, fees)
        gas, error = await node.estimate_gas({**draft, "from": sender})
        if error is not None or gas is None:
            return f"estimate_failed: {error}"
        nonce, book = take(book, await node.pending_nonce(sender))
        limit = gas_limit(gas, kind)
        tx = unsigned_tx(chain.chain_id, nonce, sender, to, kind, contract, amount, limit, fees)
    except FeeError as exc:
        logger.warning("withdrawal %s waits: %s", rec["id"], exc)
        return None
    except RpcError as exc:
        logger.warning("withdrawal %s waits for the node: %s", rec["id"], exc)
        return None
    except ValueError as exc:
        return f"invalid_transaction: {exc}"
    return tx, book


async def prepare_next(p: int, skey: str) -> None:
    """Give the sender's next approved withdrawal its nonce and transaction and ask the
    signer; or, after a crash, finish what the one at the signer was owed."""
    chain_name, _ = wp.split_sender_key(skey)
    chain = settings.chain(chain_name)
    if chain is None:
        return
    for _ in range(1000):  # skips stale queue entries; stops at the one sent to the signer
        book = store.book(skey)
        if book.signing is None:
            wid, book = wp.next_to_prepare(book)
            if wid is None:
                return
        rec = store.record(str(book.signing))
        book, what = wp.reconcile(book, rec)
        if what == "skip":
            store.write_book(p, skey, book)
            continue
        assert rec is not None
        if what == "ask":  # its request may never have gone out: the record and it again
            again = [store.record_message(rec), store.signing_message(rec)]
            await store.apply(p, wp.Plan(book=(skey, book)), again)
            _last_asked[str(rec["signing_id"])] = time.monotonic()
            return
        if what == "broadcast":
            store.write_book(p, skey, book)
            await broadcast(p, rec)
            continue
        built = await _build(chain, rec, book)
        if built is None:
            return  # the book is not written: the withdrawal waits at the head of its queue
        if isinstance(built, str):
            await store.apply(p, wp.plan_unprepared(rec, book, skey, built, _now()))
            continue
        tx, taken = built
        plan, started = wp.plan_start_signing(rec, taken, skey, tx, _now())
        extra = [store.signing_message(started)] if started else []
        await store.apply_state_first(p, plan, extra)
        if started:
            _last_asked[str(started["signing_id"])] = time.monotonic()
            return


async def broadcast(p: int, rec: dict[str, Any]) -> None:
    """Send the withdrawal's signed bytes (the only ones it has); the node already having
    them, or a "nonce too low" for a transaction of ours that is mined, counts as sent."""
    chain = settings.chain(str(rec["chain"]))
    if chain is None:
        return
    node = node_for(chain)
    faults.point("withdrawal_before_send")
    try:
        error = await node.send_raw(str(rec["raw"]))
        if error is not None and classify_send_error(error) == "nonce_low":
            _, found = await node.receipts([str(rec["signed_hash"])])
            if found and found[0] is not None:
                error = None
    except RpcError as exc:
        error = str(exc)
    _last_sent[str(rec["id"])] = time.monotonic()
    faults.point("withdrawal_after_send")
    if error is not None and classify_send_error(error) == "known":
        error = None
    if error is not None:
        logger.warning("withdrawal %s: broadcast not taken yet: %s", rec["id"], error)
    current = store.record(str(rec["id"])) or rec
    if current["status"] == w.BROADCAST:  # sent again (lost by the node, or a reorg)
        logger.info("withdrawal %s: the same bytes sent again: %s", rec["id"], error or "ok")
        if error is None and current.get("resend"):
            await store.apply(p, wp.Plan(records=[{**current, "resend": False}]))
        return
    await store.apply(p, wp.plan_sent(current, error is None, error or "", _now()))


def _receipt(raw: dict[str, Any] | None) -> Receipt | None:
    view = parse_receipt(raw)
    if view is None:
        return None
    return Receipt(view.block_number, view.block_hash, view.status, view.fee)


async def follow(p: int, skey: str) -> None:
    """One tick's look after a sender: its in-flight transactions (send again what the
    node lost or a reorg dropped, count confirmations, end what is final), then its queue."""
    chain_name, _ = wp.split_sender_key(skey)
    chain = settings.chain(chain_name)
    if chain is None:
        return
    s = settings.withdrawals
    book = store.book(skey)
    recs = [r for r in (store.record(i) for i in book.inflight) if r is not None]
    now = time.monotonic()
    for r in recs:
        late = now - _last_sent.get(str(r["id"]), 0.0) >= s.rebroadcast_s
        pending = r["status"] == w.SIGNING and r.get("raw")
        dropped = r["status"] == w.BROADCAST and (r.get("resend") or late)
        if pending or (dropped and not r.get("block_hash")):
            await broadcast(p, r)
    followed = [r for r in (store.record(i) for i in book.inflight) if r and r.get("tx_hash")]
    if followed:
        try:
            head, raws = await node_for(chain).receipts([str(r["tx_hash"]) for r in followed])
            receipts = [_receipt(x) for x in raws]
        except (RpcError, TxCheckError) as exc:
            logger.warning("chain %s: receipts not read, will retry: %s", chain.name, exc)
            return
        before = book = store.book(skey)
        for r, rc in zip(followed, receipts, strict=True):
            threshold = int(r.get("threshold") or chain.confirmations)
            plan, book = wp.plan_receipt(
                r, rc, head, threshold, chain.finality_depth, book, skey, _now()
            )
            await store.apply(p, plan)
        if book != before:  # a changelog write only when something ended
            store.write_book(p, skey, book)
    book = store.book(skey)
    if book.signing is not None:
        rec = store.record(book.signing)
        sid = str((rec or {}).get("signing_id") or "")
        if rec and rec["status"] == w.SIGNING and not rec.get("raw"):
            if now - _last_asked.get(sid, 0.0) >= s.resign_s:
                await store.apply(p, wp.Plan(), [store.signing_message(rec)])
                _last_asked[sid] = now
            return
    await prepare_next(p, skey)
