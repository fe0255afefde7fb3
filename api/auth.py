"""The gate every `/v1` request passes: signature, clock, nonce, address, role, rate and
idempotency, in that order; then the handler; then the audit entry and the first answer.

Refusals answer in the contract's error shape and are audited (`auth.refused`). A
state-changing request waits for its claim to come back from the claims log, so a nonce or an
idempotency key is decided the same way on every worker (streams/claims.py)."""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from api.audit_writer import PRINCIPAL, AuditWriter, Caller, Principal
from api.http import Handler, answer, error_response
from api.routes import CHANGING, Route, route_of
from core.publish import Message, Publisher
from core.settings import Settings
from schemas.access import KEY_ID
from streams.apikeys import KeyInfo, parse_rules
from streams.authcheck import REPLAYED, Refusal, Signed, authenticate, authorize, signed_headers
from streams.claims import abandon_record, claim_record, fingerprint
from streams.ipallow import Address, client_address
from streams.ratelimit import RateLimiter
from streams.reqsign import body_hash
from views.claims import ClaimsView
from views.keys import KeysView

logger = logging.getLogger(__name__)
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,64}\Z")
USAGE_EVERY_S = 60.0
PUBLIC = ("/v1/openapi.json",)


def protected(path: str) -> bool:
    """Whether a path needs a key: all of /v1 but the OpenAPI document."""
    return (path.startswith("/v1/") and path not in PUBLIC) or path == "/v1"


def _refusal(r: Refusal, request_id: str) -> web.Response:
    resp = error_response(r.status, r.code, r.message, r.field)
    if r.retry_after is not None:
        resp.headers["Retry-After"] = str(r.retry_after)
    resp.headers["bh-request-id"] = request_id
    return resp


def _target(request: web.Request, resp: web.StreamResponse) -> str | None:
    """What the request acted on: the path's id, or the id of what it created."""
    target = request.match_info.get("id")
    if target is None and isinstance(resp, web.Response) and resp.status < 300 and resp.body:
        try:
            data = orjson.loads(resp.body)  # type: ignore[arg-type]
        except (orjson.JSONDecodeError, TypeError):
            return None
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            return str(data["id"])
    return target


@dataclass
class AuthGate:
    """The middleware, over the keys and claims views and the publisher."""

    s: Settings
    keys: KeysView | None
    claims: ClaimsView | None
    publisher: Publisher
    writer: AuditWriter
    limiter: RateLimiter = field(init=False)
    _usage_sent: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.s.auth.rate_limit_per_s, self.s.auth.rate_limit_burst)
        self.trusted = parse_rules(self.s.auth.trusted_proxies)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not protected(request.path) or not self.s.auth.enabled:
            return await handler(request)  # (access control off: loopback only, no audit)
        request_id = secrets.token_hex(12)
        forwarded = request.headers.getall("X-Forwarded-For", [])
        client = client_address(request.remote, forwarded, self.trusted)
        ip = str(client) if client is not None else None
        route = route_of(request)
        signed = signed_headers(request.headers)
        key_hint = signed.key_id if isinstance(signed, Signed) else request.headers.get("bh-key")
        key = self.keys.get(key_hint) if self.keys is not None and key_hint else None
        who = Caller(
            request_id,
            key.principal if key is not None else "anonymous",
            key_hint if key_hint and KEY_ID.match(key_hint) else None,
            ip,
        )
        if isinstance(signed, Refusal):
            return await self.refuse(request, route, who, signed)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return await self.refuse(
                request, route, who, Refusal(413, "body_too_large", "request body is too large")
            )
        now = time.time()
        refusal = authenticate(signed, key, request.method, request.raw_path, body, now)
        if refusal is None:
            assert key is not None  # authenticate refuses an unknown key
            refusal = self._authorize(key, signed, client, route, now)
        if refusal is not None:
            return await self.refuse(request, route, who, refusal)
        assert key is not None
        request[PRINCIPAL] = Principal(key.principal, key.id, frozenset(key.roles))
        await self._note_use(key, now)
        return await self._claimed(request, handler, route, who, key, signed, body, now)

    def _authorize(
        self, key: KeyInfo, signed: Signed, client: Address | None, route: Route | None, now: float
    ) -> Refusal | None:
        assert self.claims is not None
        if self.claims.book.nonces.seen(key.id, signed.nonce, now):
            return REPLAYED
        refusal = authorize(key, client, route.permission if route else None)
        if refusal is not None:
            return refusal
        wait = self.limiter.take(key.id, now)
        if wait:
            return Refusal(429, "rate_limited", f"too many requests; retry in {wait} s", None, wait)
        return None

    async def _claimed(
        self,
        request: web.Request,
        handler: Handler,
        route: Route | None,
        who: Caller,
        key: KeyInfo,
        signed: Signed,
        body: bytes,
        now: float,
    ) -> web.StreamResponse:
        """Put the request's claim on the log; go on as the log decides."""
        assert self.claims is not None
        changing = request.method in CHANGING
        idem = request.headers.get("idempotency-key") if changing else None
        if idem is not None and not IDEMPOTENCY_KEY.match(idem):
            return await self.refuse(
                request,
                route,
                who,
                Refusal(
                    400,
                    "invalid_idempotency_key",
                    "idempotency-key must be 1 to 64 visible ASCII characters",
                    "idempotency-key",
                ),
            )
        print_ = fingerprint(request.method, request.raw_path, body_hash(body)) if idem else None
        rec = claim_record(
            who.request_id,
            key.principal,
            key.id,
            signed.nonce,
            int(signed.timestamp),
            now,
            idem,
            print_,
        )
        if not changing:
            # A read decides locally (the log tells the other workers about its nonce soon).
            self.claims.book.nonces.remember(key.id, signed.nonce, int(signed.timestamp), now)
            await self._tell(Message("auth.nonces", key.principal.encode(), orjson.dumps(rec)))
            return await self._run(request, handler, route, who)
        msg = Message("auth.claims", key.principal.encode(), orjson.dumps(rec))
        self.claims.book.expect(who.request_id)
        try:
            await self.publisher.publish([msg])
        except Exception:
            self.claims.book.forget(who.request_id)
            await self._abandon(who)  # in case the claim went out all the same
            return _refusal(
                Refusal(503, "unavailable", "the broker is not answering; retry"), who.request_id
            )
        timeout = self.s.auth.claim_timeout_s
        decision = await self.claims.decision(who.request_id, timeout)
        if decision is None:
            await self._abandon(who)
            return _refusal(
                Refusal(503, "unavailable", "the claims log is behind; retry"), who.request_id
            )
        if decision.verdict == "replayed":
            return await self.refuse(request, route, who, REPLAYED)
        if decision.verdict == "mismatch":
            return await self.refuse(
                request,
                route,
                who,
                Refusal(
                    409,
                    "idempotency_mismatch",
                    "this idempotency-key was used for a different request",
                    "idempotency-key",
                ),
            )
        if decision.verdict in ("wait", "replay") and decision.winner is not None:
            return await self._replay(request, route, who, decision.winner, timeout)
        return await self._run(request, handler, route, who, idem)

    async def _abandon(self, who: Caller) -> None:
        """Tell the log this request will not run, so an idempotency key its late claim may
        win is not left waiting for an answer that never comes."""
        rec = abandon_record(who.request_id, who.principal, time.time())
        msg = Message("auth.claims", who.principal.encode(), orjson.dumps(rec))
        try:
            await self.publisher.publish([msg])
        except Exception as exc:  # the key then stays taken until its TTL: never run twice
            logger.error("claims: could not abandon request %s: %s", who.request_id, exc)

    async def _replay(
        self, request: web.Request, route: Route | None, who: Caller, winner: str, wait_s: float
    ) -> web.StreamResponse:
        """The first answer to this idempotency key, once the request that got it is done."""
        assert self.claims is not None
        rec = await self.claims.result(winner, wait_s)
        if rec is None:
            return _refusal(
                Refusal(
                    409,
                    "idempotency_in_progress",
                    "the first request with this idempotency-key is still being answered; retry",
                    "idempotency-key",
                    5,
                ),
                who.request_id,
            )
        status, body, ctype = self.writer.opened(rec)
        resp = web.Response(
            body=body,
            status=status,
            # A first answer may hold a secret (a key's creation): never for caches.
            headers={
                "idempotent-replayed": "true",
                "bh-request-id": who.request_id,
                "Cache-Control": "no-store",
            },
        )
        if body:
            resp.content_type = ctype.split(";")[0]
        action = route.action if route and route.action else "request.replay"
        detail = {"method": request.method, "path": request.path, "idempotent_replay": True}
        outcome = "ok" if status < 400 else "error"
        target = _target(request, resp)
        await self.writer.write([self.writer.entry(who, action, target, outcome, status, detail)])
        return resp

    async def _run(
        self,
        request: web.Request,
        handler: Handler,
        route: Route | None,
        who: Caller,
        idem: str | None = None,
    ) -> web.StreamResponse:
        """The handler; then, for a change, its audit entry and first answer, both on the
        broker before the answer goes out."""
        resp = await answer(request, handler)
        resp.headers["bh-request-id"] = who.request_id
        if request.method not in CHANGING:
            return resp
        status = resp.status
        outcome = "ok" if status < 400 else "error"
        action = route.action if route and route.action else "request.unrouted"
        detail = {"method": request.method, "path": request.path}
        out = [self.writer.entry(who, action, _target(request, resp), outcome, status, detail)]
        if idem is not None and isinstance(resp, web.Response):
            out.append(
                self.writer.result(
                    who,
                    idem,
                    status,
                    bytes(resp.body or b""),  # type: ignore[arg-type]
                    resp.content_type,
                )
            )
        await self.writer.write(out)
        return resp

    async def refuse(
        self, request: web.Request, route: Route | None, who: Caller, r: Refusal
    ) -> web.Response:
        """Answer a refusal and audit it."""
        detail = {"code": r.code, "method": request.method, "path": request.path}
        if route is not None and route.action:
            detail["route"] = route.action
        await self.writer.write(
            [
                self.writer.entry(
                    who, "auth.refused", request.match_info.get("id"), "refused", r.status, detail
                )
            ]
        )
        return _refusal(r, who.request_id)

    async def _note_use(self, key: KeyInfo, now: float) -> None:
        """Remember the key's use here, and tell the others now and then."""
        assert self.keys is not None
        self.keys.touch(key.id, now)
        if now - self._usage_sent.get(key.id, 0.0) >= USAGE_EVERY_S:
            self._usage_sent[key.id] = now
            usage = orjson.dumps({"key_id": key.id, "at": now})
            await self._tell(Message("keys.usage", key.id.encode(), usage))

    async def _tell(self, msg: Message) -> None:
        """A record the other workers should have soon, but that this request's answer does
        not depend on (a read's nonce, a key's last use): a broker away is logged, not a 500."""
        try:
            await self.publisher.publish_buffered([msg])
        except Exception as exc:
            logger.warning("could not publish to %s: %s", msg.topic, exc)
