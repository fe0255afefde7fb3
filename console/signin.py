"""Signing in and out, and an operator's own account: password, authenticator (TOTP) with
recovery codes, and signing out everywhere."""

from __future__ import annotations

import asyncio
import base64
import math
from typing import Any

import orjson
from aiohttp import web

from api.checkout import qr_svg
from console.context import OPERATOR, Console
from console.forms import field, see_other
from console.session import COOKIE, PREFIX, cookie_args
from console.store import log_attempt, save_operator, save_session
from core.timefmt import iso_utc
from streams import operators as ops
from streams.consoleauth import attempt, new_session, new_token, revoked, session_id
from streams.secretbox import SecretBoxError

WRONG = "Wrong name, password or code."
SYNC_TIMEOUT_S = 2.0


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (no open redirect)."""
    if target and target.startswith(PREFIX) and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX


class SignIn:
    """The sign-in, sign-out and account handlers."""

    def __init__(self, c: Console) -> None:
        self.c = c
        self.hashing = asyncio.Semaphore(c.s.console.hash_concurrency)

    async def _hash_check(self, hashed: str | None, password: str) -> bool:
        async with self.hashing:  # argon2 takes 64 MiB and ~0.1 s: off the loop, a few at once
            return await asyncio.to_thread(ops.password_matches, hashed, password)

    async def form(self, request: web.Request) -> web.Response:
        if request.get(OPERATOR) is not None:
            return see_other(safe_next(request.query.get("next")))
        return self.c.render(request, "signin.html", next=safe_next(request.query.get("next")))

    async def submit(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        name, password = field(form, "name", 128), field(form, "password", ops.MAX_PASSWORD)
        code, nxt = field(form, "code", 64), safe_next(field(form, "next", 2000))
        c = self.c
        # Read what the topics hold now: an operator made (or locked out) a moment ago,
        # perhaps through another worker, counts. Every attempt waits the same.
        await c.operators.sync(SYNC_TIMEOUT_S)
        now = c.now()
        who = name if ops.NAME.match(name) else "anonymous"
        until = c.operators.locked_until(who, now)
        if until is not None:
            minutes = max(1, math.ceil((until - now) / 60))
            await c.audited(
                request, "console.signin", who, "refused", 429, {"code": "locked_out"}, who
            )
            msg = f"Too many failed sign-ins for this name; try again in {minutes} min."
            return c.render(request, "signin.html", 429, next=nxt, error=msg, name=name)
        op = c.operators.operators.get(who)
        ok = await self._hash_check(op.get("password_hash") if op else None, password)
        step, recovery = None, None
        if ok and op is not None and op.get("totp") is not None:
            ok, step, recovery = self._second_factor(op, code, now)
        if not ok or op is None or op.get("disabled"):
            await log_attempt(c, attempt(who, False, now))
            await c.audited(
                request, "console.signin", who, "refused", 401, {"code": "wrong_credentials"}, who
            )
            return c.render(request, "signin.html", 401, next=nxt, error=WRONG, name=name)
        if recovery is not None:
            op = ops.changed(op, iso_utc(now), recovery=recovery)
            await save_operator(c, op)
        token = new_token()
        sess = new_session(
            session_id(token), op, now, c.s.console.session_ttl_s, c.caller(request).ip
        )
        await save_session(c, sess)
        await log_attempt(c, attempt(who, True, now, step))
        detail: dict[str, Any] = {
            "second_factor": "totp" if step else ("recovery_code" if recovery is not None else None)
        }
        await c.audited(request, "console.signin", sess["id"], "ok", 303, detail, who)
        resp = see_other(nxt)
        resp.set_cookie(COOKIE, token, **cookie_args(c, int(c.s.console.session_ttl_s)))  # type: ignore[arg-type]
        return resp

    def _second_factor(
        self, op: dict[str, Any], code: str, now: float
    ) -> tuple[bool, int | None, list[str] | None]:
        """Whether the code is a current TOTP code not used before, or one recovery code."""
        if self.c.box is None:  # access control off: no master key opens the secret
            return False, None, None
        secret = ops.open_totp(self.c.box, op)
        if secret is None:
            return False, None, None
        step = ops.totp_step(secret, code, now, self.c.operators.last_totp_step(op["name"]))
        if step is not None:
            return True, step, None
        left = ops.use_recovery_code(op, code) if len(code) >= 20 else None
        return left is not None, None, left

    async def signout(self, request: web.Request) -> web.StreamResponse:
        me = request[OPERATOR]
        sess = self.c.operators.sessions.get(me.session_id)
        if sess is not None:
            await save_session(self.c, revoked(sess, self.c.now()))
        await self.c.audited(request, "console.signout", me.session_id, "ok", 303)
        resp = see_other(f"{PREFIX}/signin")
        resp.del_cookie(COOKIE, path=PREFIX)
        return resp

    async def signout_everywhere(self, request: web.Request) -> web.StreamResponse:
        me = request[OPERATOR]
        op = self.c.operators.operators[me.name]
        await save_operator(self.c, ops.signed_out_everywhere(op, iso_utc(self.c.now())))
        await self.c.audited(request, "console.signout_all", me.name, "ok", 303)
        resp = see_other(f"{PREFIX}/signin")
        resp.del_cookie(COOKIE, path=PREFIX)
        return resp

    # The operator's own account.

    async def account(self, request: web.Request, **extra: Any) -> web.Response:
        me = request[OPERATOR]
        op = self.c.operators.operators[me.name]
        sessions = sorted(
            (s for s in self.c.operators.sessions_of(me.name) if s.get("epoch") == op.get("epoch")),
            key=lambda s: -float(s.get("created_at") or 0),
        )
        now = self.c.now()
        live = [s for s in sessions if not s.get("revoked") and float(s["expires_at"]) > now]
        return self.c.render(request, "account.html", op=ops.public(op), sessions=live, **extra)

    async def totp_start(self, request: web.Request) -> web.Response:
        me = request[OPERATOR]
        if self.c.box is None:
            return await self.account(request, error="An authenticator needs the master key.")
        secret = ops.new_totp_secret()
        sealed = self.c.box.seal(secret.encode(), f"totp-setup:{me.session_id}")
        pending = base64.urlsafe_b64encode(orjson.dumps(sealed)).decode()
        uri = ops.totp_uri(secret, me.name)
        return self.c.render(
            request, "totp.html", secret=secret, uri=uri, qr=qr_svg(uri), pending=pending
        )

    async def totp_confirm(self, request: web.Request) -> web.Response:
        me = request[OPERATOR]
        form = await request.post()
        assert self.c.box is not None
        try:
            sealed = orjson.loads(base64.urlsafe_b64decode(field(form, "pending", 2000)))
            secret = self.c.box.open(sealed, f"totp-setup:{me.session_id}").decode()
        except (ValueError, SecretBoxError, orjson.JSONDecodeError):
            return await self.account(request, error="The set-up expired; start again.")
        now = self.c.now()
        step = ops.totp_step(secret, field(form, "code", 16), now, 0)
        if step is None:
            return self.c.render(
                request,
                "totp.html",
                422,
                secret=secret,
                uri=ops.totp_uri(secret, me.name),
                qr=qr_svg(ops.totp_uri(secret, me.name)),
                pending=field(form, "pending", 2000),
                error="That code is not right; check your device's clock and try again.",
            )
        codes, digests = ops.new_recovery_codes()
        op = self.c.operators.operators[me.name]
        op = ops.changed(
            op, iso_utc(now), totp=ops.seal_totp(self.c.box, me.name, secret), recovery=digests
        )
        await save_operator(self.c, op)
        await log_attempt(self.c, attempt(me.name, True, now, step))  # this code is used
        await self.c.audited(request, "console.totp_enable", me.name, "ok", 200)
        return self.c.render(request, "recovery.html", codes=codes)

    async def totp_disable(self, request: web.Request) -> web.StreamResponse:
        me = request[OPERATOR]
        form = await request.post()
        op = self.c.operators.operators[me.name]
        ok, step, _ = self._second_factor(op, field(form, "code", 64), self.c.now())
        if not ok:
            await self.c.audited(request, "console.totp_disable", me.name, "refused", 422)
            return await self.account(request, error="That code is not right.")
        await save_operator(self.c, ops.changed(op, iso_utc(self.c.now()), totp=None, recovery=[]))
        if step is not None:
            await log_attempt(self.c, attempt(me.name, True, self.c.now(), step))
        await self.c.audited(request, "console.totp_disable", me.name, "ok", 303)
        return see_other(f"{PREFIX}/account")

    async def password(self, request: web.Request) -> web.StreamResponse:
        """A new password; every session, this one too, must sign in again."""
        me = request[OPERATOR]
        form = await request.post()
        op = self.c.operators.operators[me.name]
        current, new = (
            field(form, "current", ops.MAX_PASSWORD),
            field(form, "new", ops.MAX_PASSWORD),
        )
        if not await self._hash_check(op.get("password_hash"), current):
            await self.c.audited(request, "console.password", me.name, "refused", 422)
            return await self.account(request, error="The current password is not right.")
        if new != field(form, "repeat", ops.MAX_PASSWORD):
            return await self.account(request, error="The new password and its repetition differ.")
        try:
            ops.check_password(new)
        except ops.OperatorError as exc:
            return await self.account(request, error=str(exc))
        hashed = await asyncio.to_thread(ops.hash_password, new)
        op = ops.signed_out_everywhere(
            ops.changed(op, iso_utc(self.c.now()), password_hash=hashed), iso_utc(self.c.now())
        )
        await save_operator(self.c, op)
        await self.c.audited(request, "console.password", me.name, "ok", 303)
        resp = see_other(f"{PREFIX}/signin")
        resp.del_cookie(COOKIE, path=PREFIX)
        return resp
