"""The payer's checkout page: the page, its status, its QR code and its static files.

The page is rendered in full on the server (Jinja2, autoescaped) so the amount, address, QR
code and status are there before any script runs; its script only refreshes the status.
What it shows is public to anyone with the session id: no wallet id, customer reference or
derivation path.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import qrcode
import qrcode.image.svg
from aiohttp import web
from eth_utils.address import to_checksum_address
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from api.http import found, private_json, static_file
from api.routes import Route, add
from core.settings import Settings
from streams.eip681 import eip681
from streams.ledger import now_ms, session_status
from streams.units import format_units
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
# The page's templates live beside its static files; every inserted value is escaped.
TEMPLATES = Environment(
    loader=PackageLoader("api", "static"), autoescape=True, undefined=StrictUndefined
)
# Status -> (headline, detail): rendered into the page and handed to its script as JSON,
# so the first paint and every refresh say the same thing.
STATUS_TEXT: dict[str, tuple[str, str]] = {
    "waiting": ("Waiting for payment", "Send the exact amount to the address below."),
    "seen": ("Payment seen", "Waiting for confirmations on the network."),
    "confirmed": ("Payment confirmed", "Thank you. You can close this page."),
    "overpaid": ("Payment confirmed (overpaid)", "More than the requested amount arrived."),
    "underpaid": (
        "Partially paid",
        "Part of the amount arrived. Send the rest to the same address.",
    ),
    "expired": ("Payment request expired", "This request is no longer valid. Ask for a new one."),
}
STEPS = (("waiting", "Waiting"), ("seen", "Seen on chain"), ("confirmed", "Confirmed"))
STEP_POS = {"waiting": 0, "seen": 1, "underpaid": 1, "confirmed": 2, "overpaid": 2, "expired": 0}
DONE = ("confirmed", "overpaid")


def units(raw: str | None, decimals: int | None) -> str:
    """Base units as a decimal amount with thousands commas ("250000000000000000", 18 ->
    "0.25"), in integer arithmetic only, as the page's script does."""
    if raw is None:
        return "any amount"
    if decimals is None:
        return f"{raw} (base units)"
    return format_units(raw, decimals, group=True)


def countdown(sec: int) -> str:
    """Time left as the page's script shows it ("Expires in 14:59")."""
    if sec <= 0:
        return "Expired"
    h, m, s = sec // 3600, sec % 3600 // 60, sec % 60
    return f"Expires in {h}:{m:02}:{s:02}" if h else f"Expires in {m}:{s:02}"


def symbol(asset: dict[str, Any]) -> str:
    """The asset's ticker, as the page names it."""
    return str(asset.get("symbol") or ("ETH" if asset["kind"] == "native" else "tokens"))


def status_detail(st: dict[str, Any], required: int | None) -> str:
    """The line under the status headline (confirmations so far while a payment is seen)."""
    detail: str = STATUS_TEXT.get(st["status"], ("", ""))[1]
    pending = [t["confirmations"] for t in st["transfers"] if t["state"] == "seen"]
    if st["status"] == "seen" and pending and required:
        return f"Confirmations: {max(pending)} of {required}."
    return detail


def qr_svg(data: str) -> str:
    """A QR code as SVG (scales with its viewBox; presentation attributes only, no style=)."""
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

    def _required(self, s: dict[str, Any]) -> int | None:
        chain = self.s.chain(s["chain"])
        return chain.confirmations if chain else None

    async def status(self, request: web.Request) -> web.Response:
        """What the payer's page needs (no wallet id, customer reference or path)."""
        s = self._session(request)
        st = session_status(s, self.view.ledger, now_ms())
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
                "required_confirmations": self._required(s),
                "uri": eip681(s),
                **st,
            }
        )

    def _page_context(self, s: dict[str, Any]) -> dict[str, Any]:
        """Everything the page shows, computed as the status route and the script do, so it
        reads right before (or without) any script."""
        now = now_ms()
        st = session_status(s, self.view.ledger, now)
        status, asset = st["status"], s["asset"]
        decimals, sym = asset.get("decimals"), symbol(asset)
        pos = STEP_POS.get(status, 0)
        contract = f" (token {asset['contract']})" if asset.get("contract") else ""
        expires_ms = int(s["expires_ms"])
        return {
            "sid": s["id"],
            "status": status,
            "title": STATUS_TEXT.get(status, (status, ""))[0],
            "detail": status_detail(st, self._required(s)),
            "texts": STATUS_TEXT,
            "label": s.get("label") or "Payment",
            "network": f"{s['chain']} · {s['chain_id']}",
            "amount": units(s["amount"], decimals),
            "amount_raw": units(s["amount"], decimals).replace(",", "") if s["amount"] else "",
            "symbol": sym,
            "remaining": (
                f"Still to send: {units(st['remaining'], decimals)} {sym}"
                if status == "underpaid" and st["remaining"]
                else ""
            ),
            "steps": [
                (key, text, "done" if i < pos or i == pos == 2 else "now" if i == pos else "")
                for i, (key, text) in enumerate(STEPS)
            ],
            "address": to_checksum_address(s["address"]),
            "uri": eip681(s),
            "qr": Markup(qr_svg(eip681(s))),  # trusted: drawn here, holds no outside text
            "transfers": [
                (
                    f"{units(t['amount'], decimals)} {sym}",
                    t["tx_hash"][:10]
                    + ("… ✓" if t["state"] == "confirmed" else f"… ({t['confirmations']})"),
                )
                for t in st["transfers"]
                if t["state"] != "reverted"
            ],
            "warning": (
                f"Send only {sym}{contract} on {s['chain']} (chain id {s['chain_id']}). "
                "Other assets or networks are lost."
            ),
            "expiry": "" if status in DONE else countdown(max(0, (expires_ms - now) // 1000)),
            "expires_at": s["expires_at"],
            "expires_at_text": datetime.fromtimestamp(expires_ms // 1000, UTC).strftime(
                "%Y-%m-%d %H:%M UTC"
            ),
        }

    async def page(self, request: web.Request) -> web.Response:
        """The payer's page, rendered in full on the server: it works with no script, and the
        script only keeps the status fresh."""
        sid = request.match_info["id"]
        s = self.view.sessions.get(sid)
        if s is None:
            page = TEMPLATES.get_template("not_found.html").render(sid=sid[:80])
            return web.Response(
                text=page, status=404, content_type="text/html", headers=PAGE_HEADERS
            )
        page = TEMPLATES.get_template("checkout.html").render(self._page_context(s))
        return web.Response(text=page, content_type="text/html", headers=PAGE_HEADERS)

    async def qr(self, request: web.Request) -> web.Response:
        """The payment URI as a QR code image (for links and wallets that want a file)."""
        return web.Response(
            text=qr_svg(eip681(self._session(request))),
            content_type="image/svg+xml",
            headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    async def static(self, request: web.Request) -> web.Response:
        """The page's script and style (never its templates: .html is not served)."""
        return static_file(WEB, request.match_info["name"], STATIC_TYPES)


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
