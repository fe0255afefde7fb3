"""Balances and deposit-session status: a pure fold of the events topic's deposits."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

AssetKey = tuple[str, str | None, str | None]  # kind, contract, token_id


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
    user_ref: str
    address: str
    asset: dict[str, Any]
    amount: int
    tx_hash: str
    block_number: int
    first_ms: int  # when its first event was published (record timestamp)
    state: str = "seen"  # seen | confirmed | reverted
    confirmations: int = 0


@dataclass
class Ledger:
    """Confirmed minus reverted deposits per (wallet_id, user_ref, asset); pure fold."""

    seen_ids: set[str] = field(default_factory=set)
    deposits: dict[str, Deposit] = field(default_factory=dict)
    balances: dict[tuple[str, str, AssetKey], int] = field(default_factory=dict)
    assets: dict[AssetKey, dict[str, Any]] = field(default_factory=dict)
    by_address: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def apply(self, ev: dict[str, Any], ts_ms: int) -> bool:
        """Fold one event; False when it is ignored (duplicate, not a deposit to a wallet)."""
        eid = ev.get("id")
        if not isinstance(eid, str) or eid in self.seen_ids:
            return False
        self.seen_ids.add(eid)
        wallet_id, user_ref = ev.get("wallet_id"), ev.get("user_ref")
        if not wallet_id or user_ref is None or ev.get("direction") != "in":
            return False
        asset = ev.get("asset")
        if not isinstance(asset, dict):
            return False
        try:
            amount = int(ev["amount"])
        except (KeyError, TypeError, ValueError):
            return False
        tk = transfer_key(ev)
        d = self.deposits.get(tk)
        if d is None:
            d = Deposit(
                wallet_id=str(wallet_id),
                user_ref=str(user_ref),
                address=str(ev.get("to")),
                asset=asset,
                amount=amount,
                tx_hash=str(ev.get("tx_hash")),
                block_number=int(ev.get("block_number") or 0),
                first_ms=ts_ms,
            )
            self.deposits[tk] = d
            self.by_address.setdefault((d.address, str(ev.get("chain"))), []).append(tk)
        ak = asset_key(asset)
        self.assets.setdefault(ak, asset)
        bk = (d.wallet_id, d.user_ref, ak)
        etype = ev.get("type")
        d.confirmations = max(d.confirmations, int(ev.get("confirmations") or 0))
        if etype == "transfer.confirmed" and d.state != "confirmed":
            d.state = "confirmed"
            self.balances[bk] = self.balances.get(bk, 0) + d.amount
        elif etype == "transfer.reverted":
            if d.state == "confirmed":
                self.balances[bk] = self.balances.get(bk, 0) - d.amount
            d.state = "reverted"
        return True

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


def _sort(k: tuple[str, str, AssetKey]) -> tuple[str, str, tuple[str, str, str]]:
    return (k[0], k[1], _ak_sort(k[2]))


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
