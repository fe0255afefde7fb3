"""The route table's rows for withdrawals, batches and the signer's endpoints."""

from __future__ import annotations

from aiohttp import web

from api.routes import PAGE, Query, Route, add
from api.signer import SignerApi
from api.withdrawals import WithdrawalsApi
from core.publish import Publisher
from core.settings import Settings
from schemas.answers import WalletAnswer
from schemas.withdrawal import (
    BatchAnswer,
    BatchCreate,
    RejectBody,
    SignerChains,
    SignerWalletBody,
    SigningAccepted,
    SigningAnswer,
    SigningRequests,
    Withdrawal,
    WithdrawalCreate,
    WithdrawalList,
)
from views.monitors import MonitorsView
from views.wallets import WalletsView
from views.withdrawals import WithdrawalsView

LIST = (
    Query("status", "only withdrawals in this status"),
    Query("wallet_id", "only this wallet's withdrawals"),
    *PAGE,
)


def add_withdrawal_routes(
    a: web.Application,
    s: Settings,
    monitors: MonitorsView,
    wallets: WalletsView,
    view: WithdrawalsView,
    publisher: Publisher,
) -> None:
    """Register /v1/withdrawals, /v1/withdrawal-batches and /v1/signer/..."""
    wd = WithdrawalsApi(s, wallets, view, publisher, monitors)
    one, batch = "/v1/withdrawals/{id}", "/v1/withdrawal-batches/{id}"
    rows = [
        Route(
            "POST",
            "/v1/withdrawals",
            wd.create,
            "request a withdrawal",
            "operate",
            "withdrawal.create",
            WithdrawalCreate,
            Withdrawal,
            201,
        ),
        Route(
            "GET",
            "/v1/withdrawals",
            wd.list,
            "list withdrawals",
            "read",
            answer=WithdrawalList,
            query=LIST,
        ),
        Route("GET", one, wd.get_one, "read a withdrawal", "read", answer=Withdrawal),
        Route(
            "POST",
            one + "/approve",
            wd.decide,
            "approve (four eyes: not the requester)",
            "approve",
            "withdrawal.approve",
            answer=Withdrawal,
        ),
        Route(
            "POST",
            one + "/reject",
            wd.decide,
            "reject, with a reason",
            "approve",
            "withdrawal.reject",
            RejectBody,
            Withdrawal,
        ),
        Route(
            "POST",
            one + "/cancel",
            wd.decide,
            "cancel (its requester or an admin)",
            "operate",
            "withdrawal.cancel",
            answer=Withdrawal,
        ),
        Route(
            "POST",
            "/v1/withdrawal-batches",
            wd.create_batch,
            "request 1 to 500 withdrawals",
            "operate",
            "withdrawal_batch.create",
            BatchCreate,
            BatchAnswer,
            201,
        ),
        Route("GET", batch, wd.get_batch, "read a batch and its items", "read", answer=BatchAnswer),
        Route(
            "POST",
            batch + "/approve",
            wd.decide,
            "approve every item at once",
            "approve",
            "withdrawal_batch.approve",
            answer=BatchAnswer,
        ),
        Route(
            "POST",
            batch + "/reject",
            wd.decide,
            "reject every item",
            "approve",
            "withdrawal_batch.reject",
            RejectBody,
            BatchAnswer,
        ),
        Route(
            "POST",
            batch + "/cancel",
            wd.decide,
            "cancel what is not at the signer yet",
            "operate",
            "withdrawal_batch.cancel",
            answer=BatchAnswer,
        ),
    ]
    sg = SignerApi(s, monitors, wallets, view, publisher)
    rows += [
        Route(
            "GET",
            "/v1/signer/chains",
            sg.chains,
            "the chains to report a key for",
            "sign",
            answer=SignerChains,
        ),
        Route(
            "POST",
            "/v1/signer/wallets",
            sg.report_wallet,
            "report the signer's account xpub",
            "sign",
            "signer.wallet",
            SignerWalletBody,
            WalletAnswer,
            201,
        ),
        Route(
            "GET",
            "/v1/signer/requests",
            sg.requests,
            "signing requests (long poll)",
            "sign",
            answer=SigningRequests,
            query=(
                Query("wait", "seconds to wait for one, 0 to 30", {"type": "integer"}),
                Query("limit", "at most this many, 1 to 500", {"type": "integer"}),
            ),
        ),
        Route(
            "POST",
            "/v1/signer/requests/{id}",
            sg.answer,
            "the signed transaction or a refusal",
            "sign",
            "signer.answer",
            SigningAnswer,
            SigningAccepted,
            202,
        ),
    ]
    for r in rows:
        add(a, r)
