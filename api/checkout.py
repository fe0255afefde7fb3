"""The payer's checkout page: the page, its status, its QR code and its static files.

What it shows is public to anyone with the session id: no wallet id, customer reference or
derivation path.
"""

from __future__ import annotations

import html
import importlib.resources
from dataclasses import dataclass
from typing import Any

import qrcode
import qrcode.image.svg
from aiohttp import web
from eth_utils.address import to_checksum_address

from api.http import found, private_json
from api.routes import Route, add
from core.errors import ApiError
from core.settings import Settings
from streams.eip681 import eip681
from streams.ledger import now_ms, session_status
from views.wallets import WalletsView

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
_NOT_FOUND = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Payment not found</title><link rel="stylesheet" href="/checkout/static/checkout.css">
</head><body><main class="card"><h1>Payment not found</h1>
<p class="muted">There is no payment with the reference <code>{{ID}}</code>. Check the link
you were given.</p></main></body></html>"""


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


@dataclass
class CheckoutApi:
    """The checkout handlers, bound to settings and the wallets view (read only)."""

    s: Settings
    view: WalletsView

    def _session(self, request: web.Request) -> dict[str, Any]:
        return found(self.view.sessions, request.match_info["id"], "no such session", "id")

    async def status(self, request: web.Request) -> web.Response:
        """What the payer's page needs (no wallet id, customer reference or path)."""
        s = self._session(request)
        st = session_status(s, self.view.ledger, now_ms())
        chain = self.s.chain(s["chain"])
        return private_json(
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

    async def page(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        if sid not in self.view.sessions:
            page = _NOT_FOUND.replace("{{ID}}", html.escape(sid[:80]))
            return web.Response(
                text=page, status=404, content_type="text/html", headers=PAGE_HEADERS
            )
        page = WEB.joinpath("checkout.html").read_text().replace("{{SESSION_ID}}", html.escape(sid))
        return web.Response(text=page, content_type="text/html", headers=PAGE_HEADERS)

    async def qr(self, request: web.Request) -> web.Response:
        return web.Response(
            text=qr_svg(eip681(self._session(request))),
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


def add_checkout_routes(a: web.Application, s: Settings, view: WalletsView) -> None:
    """Register /checkout: the static files first (their path would match a session's)."""
    c = CheckoutApi(s, view)
    html_page, svg = "text/html", "image/svg+xml"
    add(
        a,
        Route(
            "GET",
            "/checkout/static/{name}",
            c.static,
            "the page's script and style",
            None,
            content_type="text/javascript",
        ),
    )
    add(
        a,
        Route(
            "GET",
            "/checkout/{id}",
            c.page,
            "the page a person pays from",
            None,
            content_type=html_page,
        ),
    )
    add(a, Route("GET", "/checkout/{id}/status", c.status, "the session's live status", None))
    add(
        a,
        Route(
            "GET",
            "/checkout/{id}/qr.svg",
            c.qr,
            "the payment URI as a QR code",
            None,
            content_type=svg,
        ),
    )
