"""Wallets, customer addresses, deposit sessions, the checkout page and balances (issue 5).

Writes publish to topics and wait until the result shows up in the wallets view; reads
come from the view. Nothing here logs a request body: a key sent by mistake must not end
up in a log.
"""

from __future__ import annotations

import html
import importlib.resources
import logging
from typing import Any

import aiohttp
import orjson
import qrcode
import qrcode.image.svg
from aiohttp import web
from eth_utils.address import to_checksum_address

from agents.balances import WalletsView, now_ms, session_status
from chain.hd import AccountKey, XpubError, parse_account_xpub
from core.errors import ApiError
from core.publish import Message, Publisher
from core.settings import ChainSettings, Settings
from core.timefmt import iso_utc
from schemas.monitor import finalize_monitor
from schemas.session import (
    DEFAULT_EXPIRES_IN_S,
    AssetSpec,
    SessionCreate,
    new_session_id,
)
from schemas.wallet import (
    AddressRequest,
    WalletCreate,
    check_user_ref,
    wallet_id_for,
    wallet_monitor_id,
)
from streams.partition import wallet_partition
from streams.watchlist import monitor_digest
from views.monitors import MonitorsView

logger = logging.getLogger(__name__)

_VIEW: WalletsView | None = None
WEB = importlib.resources.files("api").joinpath("static")
STATIC_TYPES = {".css": "text/css", ".js": "application/javascript", ".svg": "image/svg+xml"}
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def wallets_view(s: Settings) -> WalletsView:
    """The process's wallets view (started by agents/web.py)."""
    global _VIEW
    if _VIEW is None:
        _VIEW = WalletsView(s)
    return _VIEW


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


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


def eip681(session: dict[str, Any]) -> str:
    """The payment request URI (EIP-681) a wallet app opens from the QR code."""
    chain_id = session["chain_id"]
    to = to_checksum_address(session["address"])
    amount = session.get("amount")
    asset = session["asset"]
    if asset["kind"] == "native":
        return f"ethereum:{to}@{chain_id}" + (f"?value={amount}" if amount else "")
    token = to_checksum_address(asset["contract"])
    uri = f"ethereum:{token}@{chain_id}/transfer?address={to}"
    return uri + (f"&uint256={amount}" if amount else "")


def qr_svg(data: str) -> str:
    """A QR code as SVG (scales with its viewBox)."""
    q = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=2,
        image_factory=qrcode.image.svg.SvgPathImage,
    )
    q.add_data(data)
    q.make(fit=True)
    svg = str(q.make_image().to_string(encoding="unicode"))
    head, _, rest = svg.partition(" version=")
    if not head:
        return svg
    px = 8 * (q.modules_count + 2 * q.border)  # an intrinsic size for <img>; the CSS scales it
    return (
        f'<svg role="img" aria-label="payment QR code" width="{px}" height="{px}" version=' + rest
    )


def _word_string(hexdata: str) -> str | None:
    """An ABI-encoded string (or a bytes32) from eth_call's answer."""
    raw = bytes.fromhex(hexdata[2:]) if hexdata.startswith("0x") else b""
    try:
        if len(raw) >= 64:
            n = int.from_bytes(raw[32:64], "big")
            if n <= 32 and len(raw) >= 64 + n:
                return raw[64 : 64 + n].decode("utf-8", "replace") or None
        if len(raw) == 32:
            return raw.rstrip(b"\x00").decode("utf-8", "replace") or None
    except ValueError:
        return None
    return None


async def token_meta(chain: ChainSettings, token: str) -> tuple[str | None, int | None]:
    """symbol() and decimals() of a token, or None where the node does not say."""
    calls = [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "eth_call",
            "params": [{"to": token, "data": d}, "latest"],
        }
        for i, d in ((1, "0x95d89b41"), (2, "0x313ce567"))
    ]
    for url in chain.rpc_urls:
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                async with http.post(url, json=calls) as r:
                    answers = await r.json(content_type=None)
            by_id = {a.get("id"): a.get("result") for a in answers if isinstance(a, dict)}
            sym = by_id.get(1)
            symbol = _word_string(sym) if isinstance(sym, str) else None
            dec = by_id.get(2)
            decimals = int(dec, 16) if isinstance(dec, str) and len(dec) > 2 else None
            return symbol, decimals if decimals is not None and decimals <= 77 else None
        except (aiohttp.ClientError, TimeoutError, ValueError, TypeError, KeyError):
            continue
    return None, None


class WalletsApi:
    """Handlers bound to settings, the views and the topics."""

    def __init__(self, s: Settings, monitors: MonitorsView, publisher: Publisher) -> None:
        self.s = s
        self.monitors = monitors
        self.publisher = publisher
        self.view = wallets_view(s)
        self._keys: dict[str, AccountKey] = {}

    # Topics are imported on first use: building the routes needs no Faust app.
    # -- helpers -------------------------------------------------------------------------

    def _key(self, wallet: dict[str, Any]) -> AccountKey:
        k = self._keys.get(wallet["id"])
        if k is None:
            k = parse_account_xpub(wallet["xpub"], testnet_ok=True)
            self._keys[wallet["id"]] = k
        return k

    def _wallet(self, wallet_id: str, field: str = "id") -> dict[str, Any]:
        w = self.view.wallets.get(wallet_id)
        if w is None:
            raise ApiError(404, "not_found", f"no wallet {wallet_id}", field)
        return w

    def _base_url(self, request: web.Request) -> str:
        return (self.s.public_url or f"{request.scheme}://{request.host}").rstrip("/")

    async def _read(self, request: web.Request, model: Any) -> Any:
        from api.server import read_json

        return await read_json(request, model)

    async def _assign(self, wallet: dict[str, Any], user_ref: str) -> dict[str, Any]:
        """The customer's assignment: from the view, or through the wallet's allocator."""
        k = (wallet["id"], user_ref)
        a = self.view.assignments.get(k)
        if a is not None:
            return a
        req = {
            "wallet_id": wallet["id"],
            "user_ref": user_ref,
            "chain": wallet["chain"],
            "xpub": wallet["xpub"],
        }
        p = wallet_partition(wallet["id"], self.s.partitions)
        message = [Message("wallets.requests", wallet["id"].encode(), orjson.dumps(req), p)]
        ok = False
        for _attempt in range(2):  # once more halfway: an assignment lost in a crash is redone
            await self.publisher.publish(message)
            ok = await self.view.wait_for(
                lambda: k in self.view.assignments, self.s.wallet_assign_timeout_s / 2
            )
            if ok:
                break
        if not ok:
            raise ApiError(
                503, "not_ready", "the address is being assigned; repeat the request", "user_ref"
            )
        return self.view.assignments[k]

    # -- wallets -------------------------------------------------------------------------

    async def create_wallet(self, request: web.Request) -> web.Response:
        body: WalletCreate = await self._read(request, WalletCreate)
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
            return _json(wallet_out(existing, key), 200)
        mid = wallet_monitor_id(wid)
        if mid not in self.monitors.monitors:
            monitor = finalize_monitor(
                {
                    "id": mid,
                    "name": f"wallet {body.label or wid} (balances and checkout)",
                    "chain": chain.name,
                    "wallet_ids": [wid],
                    "direction": "in",
                },
                chain,
                chain.name,
                make_secret=False,
            )
            await self.publisher.publish([Message("monitors", mid.encode(), orjson.dumps(monitor))])
            digest = monitor_digest(monitor)
            if not await self.monitors.wait_applied(mid, digest, self.s.wallet_assign_timeout_s):
                raise ApiError(503, "not_ready", "the wallet's monitor is not applied yet; retry")
        record = {"id": wid, "chain": chain.name, "xpub": key.xpub, "label": body.label}
        await self.publisher.publish([Message("wallets", wid.encode(), orjson.dumps(record))])
        if not await self.view.wait_for(lambda: wid in self.view.wallets, 30.0):
            raise ApiError(503, "not_ready", "the wallet is stored but not visible yet; retry")
        return _json(wallet_out(record, key), 201)

    async def get_wallet(self, request: web.Request) -> web.Response:
        w = self._wallet(request.match_info["id"])
        return _json(wallet_out(w, self._key(w)))

    async def list_wallets(self, request: web.Request) -> web.Response:
        limit, cursor = page_args(request)
        ids = sorted(i for i in self.view.wallets if i > cursor)
        page = ids[:limit]
        items = [wallet_out(self.view.wallets[i], self._key(self.view.wallets[i])) for i in page]
        return _json({"items": items, "cursor": page[-1] if len(ids) > limit else None})

    async def create_address(self, request: web.Request) -> web.Response:
        wallet = self._wallet(request.match_info["id"])
        body: AddressRequest = await self._read(request, AddressRequest)
        a = await self._assign(wallet, body.user_ref)
        return _json({k: a[k] for k in ("wallet_id", "user_ref", "address", "index", "path")})

    async def list_addresses(self, request: web.Request) -> web.Response:
        wallet = self._wallet(request.match_info["id"])
        limit, cursor = page_args(request)
        refs = sorted(u for (w, u) in self.view.assignments if w == wallet["id"] and u > cursor)
        page = refs[:limit]
        items = [
            {
                k: self.view.assignments[(wallet["id"], u)][k]
                for k in ("wallet_id", "user_ref", "address", "index", "path")
            }
            for u in page
        ]
        return _json({"items": items, "cursor": page[-1] if len(refs) > limit else None})

    # -- sessions and checkout -----------------------------------------------------------

    async def create_session(self, request: web.Request) -> web.Response:
        body: SessionCreate = await self._read(request, SessionCreate)
        wallet = self._wallet(body.wallet_id, "wallet_id")
        chain = self.s.chain(wallet["chain"])
        if chain is None:
            raise ApiError(
                422,
                "unknown_chain",
                f"the wallet's chain {wallet['chain']} is not configured",
                "wallet_id",
            )
        spec: AssetSpec = body.asset_spec()
        if spec.kind == "native":
            asset = {
                "kind": "native",
                "contract": None,
                "symbol": chain.native_symbol,
                "decimals": 18,
                "token_id": None,
            }
        else:
            symbol, decimals = spec.symbol, spec.decimals
            if symbol is None or decimals is None:
                got_symbol, got_decimals = await token_meta(chain, str(spec.contract))
                symbol = symbol if symbol is not None else got_symbol
                decimals = decimals if decimals is not None else got_decimals
            asset = {
                "kind": "erc20",
                "contract": spec.contract,
                "symbol": symbol,
                "decimals": decimals,
                "token_id": None,
            }
        a = await self._assign(wallet, body.user_ref)
        sid = new_session_id()
        created = now_ms()
        expires = created + 1000 * (body.expires_in or DEFAULT_EXPIRES_IN_S)
        session = {
            "id": sid,
            "wallet_id": wallet["id"],
            "user_ref": body.user_ref,
            "chain": chain.name,
            "chain_id": chain.chain_id,
            "address": a["address"],
            "index": a["index"],
            "path": a["path"],
            "asset": asset,
            "amount": body.amount,
            "label": body.label,
            "created_at": iso_utc(created / 1000),
            "created_ms": created,
            "expires_at": iso_utc(expires / 1000),
            "expires_ms": expires,
        }
        await self.publisher.publish([Message("sessions", sid.encode(), orjson.dumps(session))])
        if not await self.view.wait_for(lambda: sid in self.view.sessions, 30.0):
            raise ApiError(503, "not_ready", "the session is stored but not visible yet; retry")
        return _json(self._session_out(request, session), 201)

    def _session_out(self, request: web.Request, session: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in session.items() if k not in ("created_ms", "expires_ms")}
        out.update(session_status(session, self.view.ledger, now_ms()))
        out["uri"] = eip681(session)
        out["checkout_url"] = f"{self._base_url(request)}/checkout/{session['id']}"
        return out

    def _session(self, sid: str) -> dict[str, Any]:
        s = self.view.sessions.get(sid)
        if s is None:
            raise ApiError(404, "not_found", "no such session", "id")
        return s

    async def get_session(self, request: web.Request) -> web.Response:
        return _json(self._session_out(request, self._session(request.match_info["id"])))

    async def checkout_status(self, request: web.Request) -> web.Response:
        """What the payer's page needs (no wallet id, customer reference or path)."""
        s = self._session(request.match_info["id"])
        st = session_status(s, self.view.ledger, now_ms())
        chain = self.s.chain(s["chain"])
        return _json(
            {
                "id": s["id"],
                "label": s.get("label", ""),
                "chain": s["chain"],
                "chain_id": s["chain_id"],
                "address": to_checksum_address(s["address"]),
                "asset": s["asset"],
                "amount": s["amount"],
                "expires_at": s["expires_at"],
                "expires_in_s": max(0, (int(s["expires_ms"]) - now_ms()) // 1000),
                "required_confirmations": chain.confirmations if chain else None,
                "uri": eip681(s),
                **st,
            }
        )

    async def checkout_page(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        if sid not in self.view.sessions:
            page = _NOT_FOUND.replace("{{ID}}", html.escape(sid[:80]))
            return web.Response(
                text=page, status=404, content_type="text/html", headers=PAGE_HEADERS
            )
        page = WEB.joinpath("checkout.html").read_text().replace("{{SESSION_ID}}", html.escape(sid))
        return web.Response(text=page, content_type="text/html", headers=PAGE_HEADERS)

    async def checkout_qr(self, request: web.Request) -> web.Response:
        s = self._session(request.match_info["id"])
        return web.Response(
            text=qr_svg(eip681(s)),
            content_type="image/svg+xml",
            headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        suffix = name[name.rfind(".") :] if "." in name else ""
        if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES:
            raise ApiError(404, "not_found", "no such file")
        f = WEB.joinpath(name)
        if not f.is_file():
            raise ApiError(404, "not_found", "no such file")
        return web.Response(
            text=f.read_text(),
            content_type=STATIC_TYPES[suffix],
            headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    # -- balances ------------------------------------------------------------------------

    async def balances(self, request: web.Request) -> web.Response:
        wallet_id = request.query.get("wallet_id") or None
        user_ref = request.query.get("user_ref")
        if wallet_id is not None:
            self._wallet(wallet_id, "wallet_id")
        if user_ref is not None:
            try:
                check_user_ref(user_ref)
            except ValueError as exc:
                raise ApiError(400, "invalid_query", str(exc), "user_ref") from None
        limit, cursor = page_args(request)
        items = self.view.ledger.items(wallet_id, user_ref)
        start = int(cursor) if cursor.isdigit() else 0
        page = items[start : start + limit]
        more = start + limit < len(items)
        return _json(
            {
                "items": page,
                "totals": self.view.ledger.totals(wallet_id),
                "cursor": str(start + limit) if more else None,
            }
        )


def page_args(request: web.Request) -> tuple[int, str]:
    """The `limit` (1 to 1000, default 100) and `cursor` of a listing, or a 400."""
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise ApiError(400, "invalid_query", "limit must be an integer", "limit") from None
    if not 1 <= limit <= 1000:
        raise ApiError(400, "invalid_query", "limit must be between 1 and 1000", "limit")
    return limit, request.query.get("cursor") or ""


_NOT_FOUND = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Payment not found</title><link rel="stylesheet" href="/checkout/static/checkout.css">
</head><body><main class="card"><h1>Payment not found</h1>
<p class="muted">There is no payment with the reference <code>{{ID}}</code>. Check the link
you were given.</p></main></body></html>"""


def add_wallet_routes(
    a: web.Application, s: Settings, monitors: MonitorsView, publisher: Publisher
) -> None:
    """Register the wallet, session, checkout and balance routes."""
    w = WalletsApi(s, monitors, publisher)
    a.router.add_post("/v1/wallets", w.create_wallet)
    a.router.add_get("/v1/wallets", w.list_wallets)
    a.router.add_get("/v1/wallets/{id}", w.get_wallet)
    a.router.add_post("/v1/wallets/{id}/addresses", w.create_address)
    a.router.add_get("/v1/wallets/{id}/addresses", w.list_addresses)
    a.router.add_post("/v1/sessions", w.create_session)
    a.router.add_get("/v1/sessions/{id}", w.get_session)
    a.router.add_get("/v1/balances", w.balances)
    a.router.add_get("/checkout/static/{name}", w.static)
    a.router.add_get("/checkout/{id}", w.checkout_page)
    a.router.add_get("/checkout/{id}/status", w.checkout_status)
    a.router.add_get("/checkout/{id}/qr.svg", w.checkout_qr)
