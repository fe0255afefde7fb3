"""/v1/balances: confirmed deposits per customer and asset, from the wallets view."""

from __future__ import annotations

from aiohttp import web

from api.http import found, page_args, private_json
from api.routes import PAGE, Query, Route, add
from core.errors import ApiError
from schemas.answers import BalanceList
from schemas.wallet import check_user_ref
from views.wallets import WalletsView


def add_balance_routes(a: web.Application, view: WalletsView) -> None:
    """Register /v1/balances (filtered by wallet and customer, paged by position)."""

    async def balances(request: web.Request) -> web.Response:
        wallet_id = request.query.get("wallet_id") or None
        user_ref = request.query.get("user_ref")
        if wallet_id is not None:
            found(view.wallets, wallet_id, f"no wallet {wallet_id}", "wallet_id")
        if user_ref is not None:
            try:
                check_user_ref(user_ref)
            except ValueError as exc:
                raise ApiError(400, "invalid_query", str(exc), "user_ref") from None
        limit, cursor = page_args(request)
        items = view.ledger.items(wallet_id, user_ref)
        start = int(cursor) if cursor.isdigit() else 0
        page = items[start : start + limit]
        more = start + limit < len(items)
        return private_json(
            {
                "items": page,
                "totals": view.ledger.totals(wallet_id),
                "cursor": str(start + limit) if more else None,
            }
        )

    add(
        a,
        Route(
            "GET",
            "/v1/balances",
            balances,
            "confirmed balances",
            "read",
            answer=BalanceList,
            query=(
                Query("wallet_id", "only this wallet"),
                Query("user_ref", "only this customer"),
                *PAGE,
            ),
        ),
    )
