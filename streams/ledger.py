"""Balances and deposit-session status: a pure fold of the events topic's deposits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

AssetKey = tuple[str, str | None, str | None]  # kind, contract, token_id
HISTORY_MAX = 1000  # points kept of each treasury's balance over time


def asset_key(asset: dict[str, Any]) -> AssetKey:
    """Assets are the same when kind, contract and token id are."""
    return (str(asset.get("kind")), asset.get("contract"), asset.get("token_id"))


def transfer_key(ev: dict[str, Any]) -> str:
    """One transfer in one block on one side, whatever monitor reported it (several monitors
    over one wallet report the same transfer under different event ids)."""
    a = ev.get("asset") or {}
    return "|".join(
        str(x)
        for x in (
            ev.get("chain"),
            ev.get("tx_hash"),
            ev.get("log_index"),
            a.get("contract"),
            a.get("token_id"),
            ev.get("from"),
            ev.get("to"),
            ev.get("block_hash"),
            ev.get("direction"),
        )
    )


@dataclass
class Deposit:
    """What the ledger knows of one incoming transfer to a wallet's address."""

    wallet_id: str
    user_ref: str | None
    address: str
    asset: dict[str, Any]
    amount: int
    tx_hash: str
    block_number: int
    first_ms: int  # when its first event was published (record timestamp)
    state: str = "seen"  # seen | confirmed | reverted
    confirmations: int = 0


BalanceKey = tuple[str, str | None, AssetKey]  # wallet_id, user_ref (None: the treasury), asset


@dataclass
class Outgoing:
    """What the ledger knows of one transfer out of a wallet's address."""

    key: BalanceKey
    amount: int
    state: str = "seen"  # seen | confirmed | reverted


@dataclass
class Ledger:
    """Confirmed balances per (wallet_id, user_ref, asset): what each address received minus
    what it sent, minus the fees of the withdrawals it paid for; a pure fold of the events
    and withdrawals topics. The treasury of a signer wallet has user_ref None."""

    seen_ids: set[str] = field(default_factory=set)
    deposits: dict[str, Deposit] = field(default_factory=dict)
    outgoing: dict[str, Outgoing] = field(default_factory=dict)
    balances: dict[BalanceKey, int] = field(default_factory=dict)
    assets: dict[AssetKey, dict[str, Any]] = field(default_factory=dict)
    by_address: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # withdrawal id → the balance and the fee taken for its mined transaction
    fees: dict[str, tuple[BalanceKey, int]] = field(default_factory=dict)
    # (chain, tx hash) of the confirmed transfers out: a withdrawal's amount stays reserved
    # until its own transfer out is counted here
    sent_txs: set[tuple[str, str]] = field(default_factory=set)

    # treasury balance → (record time in ms, balance after) at each change, newest last
    history: dict[BalanceKey, list[tuple[int, int]]] = field(default_factory=dict)
    clock_ms: int = 0  # the newest record time folded

    def _add(self, bk: BalanceKey, amount: int) -> None:
        total = self.balances[bk] = self.balances.get(bk, 0) + amount
        if bk[1] is None:  # a treasury: its balance over time, for the console's chart
            h = self.history.setdefault(bk, [])
            h.append((self.clock_ms, total))
            if len(h) > 2 * HISTORY_MAX:
                del h[:-HISTORY_MAX]

    def apply(self, ev: dict[str, Any], ts_ms: int) -> bool:
        """Fold one event; False when it is ignored (duplicate, not a wallet's transfer)."""
        eid = ev.get("id")
        if not isinstance(eid, str) or eid in self.seen_ids:
            return False
        self.clock_ms = max(self.clock_ms, ts_ms)
        self.seen_ids.add(eid)
        wallet_id, user_ref = ev.get("wallet_id"), ev.get("user_ref")
        direction = ev.get("direction")
        if not wallet_id or direction not in ("in", "out"):
            return False
        if user_ref is not None and not isinstance(user_ref, str):
            return False
        asset = ev.get("asset")
        if not isinstance(asset, dict):
            return False
        try:
            amount = int(ev["amount"])
        except (KeyError, TypeError, ValueError):
            return False
        ak = asset_key(asset)
        self.assets.setdefault(ak, asset)
        bk: BalanceKey = (str(wallet_id), user_ref, ak)
        if direction == "out":
            return self._apply_out(ev, bk, amount)
        tk = transfer_key(ev)
        d = self.deposits.get(tk)
        if d is None:
            d = Deposit(
                wallet_id=str(wallet_id),
                user_ref=user_ref,
                address=str(ev.get("to")),
                asset=asset,
                amount=amount,
                tx_hash=str(ev.get("tx_hash")),
                block_number=int(ev.get("block_number") or 0),
                first_ms=ts_ms,
            )
            self.deposits[tk] = d
            self.by_address.setdefault((d.address, str(ev.get("chain"))), []).append(tk)
        etype = ev.get("type")
        d.confirmations = max(d.confirmations, int(ev.get("confirmations") or 0))
        if etype == "transfer.confirmed" and d.state != "confirmed":
            d.state = "confirmed"
            self._add(bk, d.amount)
        elif etype == "transfer.reverted":
            if d.state == "confirmed":
                self._add(bk, -d.amount)
            d.state = "reverted"
        return True

    def _apply_out(self, ev: dict[str, Any], bk: BalanceKey, amount: int) -> bool:
        """A transfer out: taken from the balance once confirmed, given back if reverted."""
        tk = transfer_key(ev)
        o = self.outgoing.setdefault(tk, Outgoing(bk, amount))
        etype = ev.get("type")
        sent = (str(ev.get("chain")), str(ev.get("tx_hash")))
        if etype == "transfer.confirmed" and o.state != "confirmed":
            o.state = "confirmed"
            self._add(o.key, -o.amount)
            self.sent_txs.add(sent)
        elif etype == "transfer.reverted":
            if o.state == "confirmed":
                self._add(o.key, o.amount)
                self.sent_txs.discard(sent)
            o.state = "reverted"
        return True

    def apply_withdrawal(self, rec: dict[str, Any]) -> None:
        """The fee of a withdrawal's mined transaction (confirmed, or reverted on chain: a
        reverted transaction pays its fee too) comes off its source's native balance; a
        reorg that takes it out of its block gives it back until it is mined again."""
        wid, wallet_id = rec.get("id"), rec.get("wallet_id")
        if not isinstance(wid, str) or not isinstance(wallet_id, str):
            return
        old = self.fees.pop(wid, None)
        if old is not None:
            self._add(old[0], old[1])
        fee = rec.get("fee")
        if rec.get("status") not in ("confirmed", "failed") or fee is None:
            return
        try:
            amount = int(fee)
        except (TypeError, ValueError):
            return
        native = {"kind": "native", "contract": None, "token_id": None}
        ak = asset_key(native)
        self.assets.setdefault(ak, native)
        bk: BalanceKey = (wallet_id, rec.get("user_ref"), ak)
        self.fees[wid] = (bk, amount)
        self._add(bk, -amount)

    def balance(self, wallet_id: str, user_ref: str | None, asset: dict[str, Any]) -> int:
        """The confirmed balance of one source and asset."""
        return self.balances.get((wallet_id, user_ref, asset_key(asset)), 0)

    def items(self, wallet_id: str | None, user_ref: str | None) -> list[dict[str, Any]]:
        """Balances (amounts as decimal strings of base units), sorted."""
        out = []
        for (w, u, ak), amount in sorted(self.balances.items(), key=lambda kv: _sort(kv[0])):
            if (wallet_id and w != wallet_id) or (user_ref is not None and u != user_ref):
                continue
            out.append(
                {"wallet_id": w, "user_ref": u, "asset": self.assets[ak], "amount": str(amount)}
            )
        return out

    def totals(self, wallet_id: str | None) -> list[dict[str, Any]]:
        """Per wallet and asset: the sum over its customers."""
        sums: dict[tuple[str, AssetKey], int] = {}
        for (w, _u, ak), amount in self.balances.items():
            if not wallet_id or w == wallet_id:
                sums[(w, ak)] = sums.get((w, ak), 0) + amount
        return [
            {"wallet_id": w, "asset": self.assets[ak], "amount": str(v)}
            for (w, ak), v in sorted(sums.items(), key=lambda kv: (kv[0][0], _ak_sort(kv[0][1])))
        ]

    def deposits_to(self, chain: str, address: str) -> list[Deposit]:
        """Every deposit seen to this address, in the order first seen."""
        return [self.deposits[k] for k in self.by_address.get((address, chain), [])]


def _ak_sort(ak: AssetKey) -> tuple[str, str, str]:
    return (ak[0], ak[1] or "", ak[2] or "")


def _sort(k: BalanceKey) -> tuple[str, int, str, tuple[str, str, str]]:
    return (k[0], k[1] is not None, k[1] or "", _ak_sort(k[2]))


def session_status(session: dict[str, Any], ledger: Ledger, now_ms: int) -> dict[str, Any]:
    """Status of a deposit session: waiting → seen → confirmed, or expired, underpaid,
    overpaid. Deposits of the session's asset to its address first seen after the session
    was opened count (a customer's address is reused across sessions)."""
    ak = asset_key(session["asset"])
    mine = [
        d
        for d in ledger.deposits_to(session["chain"], session["address"])
        if asset_key(d.asset) == ak and d.first_ms >= session["created_ms"] - 1000
    ]
    confirmed = sum(d.amount for d in mine if d.state == "confirmed")
    pending = sum(d.amount for d in mine if d.state == "seen")
    expected = int(session["amount"]) if session.get("amount") else None
    expired = now_ms >= int(session["expires_ms"])
    if expected is None:
        if confirmed:
            status = "confirmed"
        elif pending:
            status = "seen"
        else:
            status = "expired" if expired else "waiting"
    elif confirmed > expected:
        status = "overpaid"
    elif confirmed == expected:
        status = "confirmed"
    elif pending:
        status = "seen"
    elif confirmed:
        status = "underpaid"
    else:
        status = "expired" if expired else "waiting"
    return {
        "status": status,
        "paid": str(confirmed),
        "pending": str(pending),
        "remaining": str(max(0, expected - confirmed)) if expected is not None else None,
        "expired": expired,
        "transfers": [
            {
                "tx_hash": d.tx_hash,
                "block_number": d.block_number,
                "amount": str(d.amount),
                "state": d.state,
                "confirmations": d.confirmations,
            }
            for d in mine
        ],
    }


def now_ms() -> int:
    """Wall-clock milliseconds (session expiry)."""
    return int(time.time() * 1000)
