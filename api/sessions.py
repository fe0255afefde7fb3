"""/v1/sessions: deposit sessions, published to the sessions topic and read from the view."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from api.http import found, private_json, read_json
from api.routes import Route, add
from chain.rpc import RpcClient
from core.errors import ApiError, RpcError
from core.publish import Message, Publisher
from core.settings import ChainSettings, Settings
from core.timefmt import iso_utc
from schemas.answers import SessionAnswer
from schemas.session import DEFAULT_EXPIRES_IN_S, AssetSpec, SessionCreate, new_session_id
from streams.abiwords import token_meta, token_meta_calls
from streams.eip681 import eip681
from streams.ledger import now_ms, session_status
from views.wallets import NOT_ASSIGNED, WalletsView

logger = logging.getLogger(__name__)

TOKEN_META_TIMEOUT_S = 5.0
MAX_SESSION_DECIMALS = 77  # what AssetSpec accepts from a client


class TokenMetaLookup:
    """symbol() and decimals() of a session's token, asked of the chain's nodes: one RPC
    client (one HTTP session, its size cap and fail-over) per chain, one round of URLs."""

    def __init__(self) -> None:
        self._clients: dict[str, RpcClient] = {}

    def _client(self, chain: ChainSettings) -> RpcClient:
        c = self._clients.get(chain.name)
        if c is None:
            c = RpcClient(
                chain.rpc_urls,
                timeout_s=TOKEN_META_TIMEOUT_S,
                attempts=1,
                backoff_s=0.0,
                chain=chain.name,
            )
            self._clients[chain.name] = c
        return c

    async def __call__(self, chain: ChainSettings, token: str) -> tuple[str | None, int | None]:
        """The token's symbol and decimals, or None where the nodes do not say."""
        try:
            res = await self._client(chain).batch(token_meta_calls(token), lenient=True)
        except RpcError as exc:
            logger.warning("token metadata of %s on %s unavailable: %s", token, chain.name, exc)
            return None, None
        meta = token_meta(res[0], res[1])
        decimals = meta["decimals"]
        if decimals is not None and decimals > MAX_SESSION_DECIMALS:
            decimals = None
        return meta["symbol"], decimals

    async def close(self) -> None:
        """Close the clients' HTTP sessions."""
        for c in self._clients.values():
            await c.close()
        self._clients.clear()


@dataclass
class SessionsApi:
    """The session handlers, bound to settings, the wallets view, a publisher and the token
    lookup."""

    s: Settings
    view: WalletsView
    publisher: Publisher
    tokens: TokenMetaLookup

    def _base_url(self, request: web.Request) -> str:
        return (self.s.public_url or f"{request.scheme}://{request.host}").rstrip("/")

    async def _asset(self, chain: ChainSettings, spec: AssetSpec) -> dict[str, Any]:
        """The session's asset, with a token's symbol and decimals read from the chain when
        the client did not give them."""
        if spec.kind == "native":
            return {
                "kind": "native",
                "contract": None,
                "symbol": chain.native_symbol,
                "decimals": 18,
                "token_id": None,
            }
        symbol, decimals = spec.symbol, spec.decimals
        if symbol is None or decimals is None:
            got_symbol, got_decimals = await self.tokens(chain, str(spec.contract))
            symbol = symbol if symbol is not None else got_symbol
            decimals = decimals if decimals is not None else got_decimals
        return {
            "kind": "erc20",
            "contract": spec.contract,
            "symbol": symbol,
            "decimals": decimals,
            "token_id": None,
        }

    async def create_session(self, request: web.Request) -> web.Response:
        body: SessionCreate = await read_json(request, SessionCreate)
        wallet = found(
            self.view.wallets, body.wallet_id, f"no wallet {body.wallet_id}", "wallet_id"
        )
        chain = self.s.chain(wallet["chain"])
        if chain is None:
            raise ApiError(
                422,
                "unknown_chain",
                f"the wallet's chain {wallet['chain']} is not configured",
                "wallet_id",
            )
        asset = await self._asset(chain, body.asset_spec())
        a = await self.view.assign(self.publisher, wallet, body.user_ref)
        if a is None:
            raise ApiError(503, "not_ready", NOT_ASSIGNED, "user_ref")
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
        return private_json(self._session_out(request, session), 201)

    def _session_out(self, request: web.Request, session: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in session.items() if k not in ("created_ms", "expires_ms")}
        out.update(session_status(session, self.view.ledger, now_ms()))
        out["uri"] = eip681(session)
        out["checkout_url"] = f"{self._base_url(request)}/checkout/{session['id']}"
        return out

    async def get_session(self, request: web.Request) -> web.Response:
        session = found(self.view.sessions, request.match_info["id"], "no such session", "id")
        return private_json(self._session_out(request, session))


def add_session_routes(
    a: web.Application, s: Settings, view: WalletsView, publisher: Publisher
) -> None:
    """Register /v1/sessions; the token lookup's HTTP sessions close with the app."""
    tokens = TokenMetaLookup()
    h = SessionsApi(s, view, publisher, tokens)

    async def on_cleanup(app: web.Application) -> None:
        await tokens.close()

    a.on_cleanup.append(on_cleanup)
    add(
        a,
        Route(
            "POST",
            "/v1/sessions",
            h.create_session,
            "open a deposit session",
            "operate",
            "session.create",
            SessionCreate,
            SessionAnswer,
            201,
        ),
    )
    add(
        a,
        Route(
            "GET",
            "/v1/sessions/{id}",
            h.get_session,
            "a session and its status",
            "read",
            answer=SessionAnswer,
        ),
    )
