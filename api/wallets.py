"""/v1/wallets and their customer addresses: writes publish and wait for the wallets view.

Nothing here logs a request body: a key sent by mistake must not end up in a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from api.http import found, page_args, page_of, private_json, read_json
from api.routes import PAGE, Route, add
from chain.hd import AccountKey, XpubError, parse_account_xpub
from core.errors import ApiError
from core.publish import Message, Publisher
from core.settings import ChainSettings, Settings
from schemas.answers import AssignmentList, WalletAnswer, WalletList
from schemas.monitor import finalize_monitor
from schemas.wallet import (
    AddressRequest,
    Assignment,
    WalletCreate,
    wallet_id_for,
    wallet_monitor_id,
)
from streams.watchlist import monitor_digest
from views.monitors import MonitorsView
from views.wallets import NOT_ASSIGNED, WalletsView

ADDRESS_FIELDS = ("wallet_id", "user_ref", "address", "index", "path")


def wallet_out(record: dict[str, Any], key: AccountKey) -> dict[str, Any]:
    """A wallet as the API answers it: the record and what follows from its key."""
    return {
        **record,
        "account": key.account,
        "path": key.path_prefix,
        "address_path": key.path_prefix + "/0/{index}",
        "fingerprint": key.fingerprint(),
        "parent_fingerprint": key.parent_fingerprint,
        "testnet": key.testnet,
        "monitor_id": wallet_monitor_id(record["id"]),
    }


def address_out(assignment: dict[str, Any]) -> dict[str, Any]:
    """A customer's address as the API answers it."""
    return {k: assignment[k] for k in ADDRESS_FIELDS}


@dataclass
class WalletsApi:
    """The wallet and address handlers, bound to settings, the views and a publisher."""

    s: Settings
    monitors: MonitorsView
    view: WalletsView
    publisher: Publisher
    _keys: dict[str, AccountKey] = field(default_factory=dict, init=False)

    def _key(self, wallet: dict[str, Any]) -> AccountKey:
        k = self._keys.get(wallet["id"])
        if k is None:
            k = parse_account_xpub(wallet["xpub"], testnet_ok=True)
            self._keys[wallet["id"]] = k
        return k

    def _wallet(self, request: web.Request) -> dict[str, Any]:
        wallet_id = request.match_info["id"]
        return found(self.view.wallets, wallet_id, f"no wallet {wallet_id}", "id")

    async def ensure_monitor(self, wallet_id: str, label: str, chain: ChainSettings) -> None:
        """The wallet's own monitor (balances and checkout), applied before the wallet is."""
        mid = wallet_monitor_id(wallet_id)
        if mid in self.monitors.monitors:
            return
        monitor = finalize_monitor(
            {
                "id": mid,
                "name": f"wallet {label or wallet_id} (balances and checkout)",
                "chain": chain.name,
                "wallet_ids": [wallet_id],
                "direction": "both",
            },
            chain,
            chain.name,
            make_secret=False,
        )
        await self.publisher.publish([Message("monitors", mid.encode(), orjson.dumps(monitor))])
        digest = monitor_digest(monitor)
        if not await self.monitors.wait_applied(mid, digest, self.s.wallet_assign_timeout_s):
            raise ApiError(503, "not_ready", "the wallet's monitor is not applied yet; retry")

    async def create_wallet(self, request: web.Request) -> web.Response:
        body: WalletCreate = await read_json(request, WalletCreate)
        chain = self.s.chain(body.chain)
        if chain is None:
            known = ", ".join(c.name for c in self.s.chains) or "none"
            raise ApiError(
                422, "unknown_chain", f"unknown chain {body.chain!r} (known: {known})", "chain"
            )
        try:
            key = parse_account_xpub(body.xpub, testnet_ok=chain.testnet)
        except XpubError as exc:
            raise ApiError(422, exc.code, exc.message, "xpub") from None
        wid = wallet_id_for(chain.name, key.xpub)
        existing = self.view.wallets.get(wid)
        if existing is not None:  # the same key again: the same wallet (idempotent)
            return private_json(wallet_out(existing, key), 200)
        await self.ensure_monitor(wid, body.label, chain)
        record = {"id": wid, "chain": chain.name, "xpub": key.xpub, "label": body.label}
        await self.publisher.publish([Message("wallets", wid.encode(), orjson.dumps(record))])
        if not await self.view.wait_for(lambda: wid in self.view.wallets, 30.0):
            raise ApiError(503, "not_ready", "the wallet is stored but not visible yet; retry")
        return private_json(wallet_out(record, key), 201)

    async def get_wallet(self, request: web.Request) -> web.Response:
        w = self._wallet(request)
        return private_json(wallet_out(w, self._key(w)))

    async def list_wallets(self, request: web.Request) -> web.Response:
        limit, cursor = page_args(request)
        page, next_cursor = page_of(sorted(i for i in self.view.wallets if i > cursor), limit)
        items = [wallet_out(self.view.wallets[i], self._key(self.view.wallets[i])) for i in page]
        return private_json({"items": items, "cursor": next_cursor})

    async def create_address(self, request: web.Request) -> web.Response:
        wallet = self._wallet(request)
        body: AddressRequest = await read_json(request, AddressRequest)
        a = await self.view.assign(self.publisher, wallet, body.user_ref)
        if a is None:
            raise ApiError(503, "not_ready", NOT_ASSIGNED, "user_ref")
        return private_json(address_out(a))

    async def list_addresses(self, request: web.Request) -> web.Response:
        wallet = self._wallet(request)
        limit, cursor = page_args(request)
        refs = sorted(u for (w, u) in self.view.assignments if w == wallet["id"] and u > cursor)
        page, next_cursor = page_of(refs, limit)
        items = [address_out(self.view.assignments[(wallet["id"], u)]) for u in page]
        return private_json({"items": items, "cursor": next_cursor})


def add_wallet_routes(
    a: web.Application,
    s: Settings,
    monitors: MonitorsView,
    view: WalletsView,
    publisher: Publisher,
) -> None:
    """Register /v1/wallets and /v1/wallets/{id}/addresses."""
    w = WalletsApi(s, monitors, view, publisher)
    addresses = "/v1/wallets/{id}/addresses"
    add(
        a,
        Route(
            "POST",
            "/v1/wallets",
            w.create_wallet,
            "register an extended public key",
            "operate",
            "wallet.create",
            WalletCreate,
            WalletAnswer,
            201,
        ),
    )
    add(
        a,
        Route(
            "GET",
            "/v1/wallets",
            w.list_wallets,
            "list wallets",
            "read",
            answer=WalletList,
            query=PAGE,
        ),
    )
    add(
        a,
        Route(
            "GET", "/v1/wallets/{id}", w.get_wallet, "read a wallet", "read", answer=WalletAnswer
        ),
    )
    add(
        a,
        Route(
            "POST",
            addresses,
            w.create_address,
            "a customer's address (the same every time)",
            "operate",
            "address.create",
            AddressRequest,
            Assignment,
        ),
    )
    add(
        a,
        Route(
            "GET",
            addresses,
            w.list_addresses,
            "the wallet's assigned addresses",
            "read",
            answer=AssignmentList,
            query=PAGE,
        ),
    )
