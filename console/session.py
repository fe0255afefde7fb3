"""The console's gate: every /admin request passes it. It finds the session from the cookie,
sends the signed-out to the sign-in page, checks the operator's roles against the route's
permission and, for every form post, the CSRF token and the Origin; it puts the security
headers on every answer and turns failures into pages, never into a traceback. Refusals
are audited as `auth.refused`, as the API's are."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from aiohttp import web

from console.context import OPERATOR, PRE_TOKEN, REQUEST_ID, Console, Operator, may_do
from console.forms import see_other
from core.errors import ApiError
from streams.consoleauth import csrf_ok, new_token, session_id, session_valid

logger = logging.getLogger(__name__)

COOKIE = "bh_console"
PRE_COOKIE = "bh_console_signin"
PREFIX = "/admin"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True, slots=True)
class Page:
    """One console route: `permission` None is public (sign-in, static files); `action`
    names the audit record of a form post that is refused before its handler."""

    method: str
    path: str
    handler: Handler
    permission: str | None
    action: str | None = None


PAGES = web.AppKey("console_pages", dict[tuple[str, str], Page])


def add_page(a: web.Application, p: Page) -> None:
    a.setdefault(PAGES, {})[(p.method, p.path)] = p
    a.router.add_route(p.method, p.path, p.handler)


def _page_of(request: web.Request) -> Page | None:
    resource = request.match_info.route.resource
    if resource is None:
        return None
    canonical = resource.canonical
    if canonical.startswith(PREFIX):  # a sub-application's resources carry its prefix
        canonical = canonical[len(PREFIX) :] or "/"
    return (request.app.get(PAGES) or {}).get((request.method, canonical))


def cookie_args(c: Console, max_age: int | None) -> dict[str, object]:
    return {
        "path": PREFIX,
        "httponly": True,
        "samesite": "Strict",
        "secure": c.s.console.secure_cookies,
        "max_age": max_age,
    }


def signed_in(c: Console, request: web.Request) -> Operator | None:
    """The operator of the request's session cookie, when the session is good."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 100:
        return None
    sid = session_id(token)
    sess = c.operators.sessions.get(sid)
    op = c.operators.operators.get(str(sess.get("operator"))) if sess else None
    if not session_valid(sess, op, c.now()) or op is None:
        return None
    return Operator(str(op["name"]), frozenset(op.get("roles") or ()), token, sid)


def same_origin(request: web.Request) -> bool:
    """A form post must come from a page of this host (when the browser says where from)."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


@dataclass
class Gate:
    """The middleware over the console's dependencies."""

    c: Console

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request[REQUEST_ID] = secrets.token_hex(12)
        try:
            resp = await self._guarded(request, handler)
        except web.HTTPException as exc:
            if exc.status >= 400:
                resp = self.error(request, exc.status, exc.reason)
            else:
                resp = exc
        except ApiError as exc:
            resp = self.error(request, exc.status, exc.message)
        except Exception:
            logger.exception("console: %s %s failed", request.method, request.path)
            resp = self.error(request, 500, "Something went wrong; it is in the worker's log.")
        resp.headers.update(HEADERS)
        return resp

    async def _guarded(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        page = _page_of(request)
        me = signed_in(self.c, request)
        if me is not None:
            request[OPERATOR] = me
        if page is None:
            return await handler(request)  # aiohttp's own 404 or 405, made a page above
        if page.permission is None:
            return await self._public(request, handler)
        if me is None:
            if request.method == "GET":
                target = request.path_qs if request.path_qs.startswith(PREFIX) else PREFIX
                return see_other(f"{PREFIX}/signin?next={quote(target, safe='/')}")
            return await self.refuse(request, page, 401, "unauthenticated", "Sign in first.")
        if not may_do(me, page.permission):
            return await self.refuse(
                request, page, 403, "forbidden", "Your roles do not allow this."
            )
        if request.method == "POST" and not await self._form_ok(request, me.token):
            return await self.refuse(
                request,
                page,
                403,
                "csrf_failed",
                "The form was not sent from this console (or it expired); reload and retry.",
            )
        return await handler(request)

    async def _public(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Sign-in and static files: the sign-in form's CSRF token comes from its own cookie."""
        pre = request.cookies.get(PRE_COOKIE)
        fresh = not pre or len(pre) > 100
        if fresh:
            pre = new_token()
        assert pre is not None
        request[PRE_TOKEN] = pre
        if request.method == "POST" and (fresh or not await self._form_ok(request, pre)):
            page = _page_of(request)
            assert page is not None
            return await self.refuse(
                request,
                page,
                403,
                "csrf_failed",
                "The sign-in form expired; reload the page and sign in again.",
            )
        resp = await handler(request)
        if fresh:
            resp.set_cookie(PRE_COOKIE, pre, **cookie_args(self.c, None))  # type: ignore[arg-type]
        return resp

    async def _form_ok(self, request: web.Request, token: str) -> bool:
        if not same_origin(request):
            return False
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, "body_too_large", "The form is too large.") from None
        except (ValueError, web.HTTPException):
            return False
        sent = form.get("csrf")
        return csrf_ok(token, sent if isinstance(sent, str) else None)

    async def refuse(
        self, request: web.Request, page: Page, status: int, code: str, message: str
    ) -> web.Response:
        detail: dict[str, object] = {"code": code}
        if page.action:
            detail["route"] = page.action
        await self.c.audited(
            request, "auth.refused", request.match_info.get("id"), "refused", status, detail
        )
        return self.error(request, status, message)

    def error(self, request: web.Request, status: int, message: str) -> web.Response:
        titles = {401: "Sign in first", 403: "Not allowed", 404: "Not found", 405: "Not allowed"}
        title = titles.get(status, "Something went wrong" if status >= 500 else "Cannot do that")
        return self.c.render(request, "error.html", status, title=title, message=message)
