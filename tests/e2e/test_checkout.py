"""Deposit sessions and the checkout page, in a real headless Chromium (tests/e2e/browser.py):
the page shows how to pay before any script runs, its script moves the status from waiting
to confirmed without a reload, axe-core finds nothing serious, and a hostile label is text."""

from __future__ import annotations

import asyncio
import html
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.browser import Browser, assert_accessible
from tests.e2e.conftest import api
from tests.e2e.test_pipeline import FUNDER
from tests.e2e.test_wallets import assign, register
from tests.e2e.traffic import wait_until

pytestmark = pytest.mark.e2e

AMOUNT = 25 * 10**16  # 0.25 ETH
HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
# Installed before any page script: a hostile label that ran would leave a trace here.
TRAP_ALERTS = "window.__alerts = []; window.alert = (m) => window.__alerts.push(String(m));"
QR_BOX = (
    "(() => { const q = document.querySelector('#qr-link svg');"
    " if (!q) return null; const r = q.getBoundingClientRect();"
    " return [r.width, r.height]; })()"
)


def session(stack: DevStack, **body: Any) -> dict[str, Any]:
    status, s = api(stack, "POST", "/v1/sessions", body)
    assert status == 201, s
    out: dict[str, Any] = s
    return out


def status_of(stack: DevStack, sid: str) -> dict[str, Any]:
    status, s = api(stack, "GET", f"/v1/sessions/{sid}")
    assert status == 200, s
    out: dict[str, Any] = s
    return out


def api_raw(stack: DevStack, path: str) -> tuple[int, bytes]:
    """GET a public (unsigned) path; its status and body."""
    try:
        with urllib.request.urlopen(stack.cfg.api_url + path, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def page_errors(b: Browser) -> list[str]:
    """Script errors and CSP refusals (a missing favicon's 404 is not one)."""
    return [e for e in b.errors() if not e.startswith("network:")]


def native_session(stack: DevStack, user_ref: str, label: str) -> dict[str, Any]:
    """A 0.25 ETH session for a fresh customer of the Acme wallet."""
    w = register(stack, 3, "Acme Store")
    return session(
        stack,
        wallet_id=w["id"],
        user_ref=user_ref,
        asset="native",
        amount=str(AMOUNT),
        expires_in=900,
        label=label,
    )


def test_checkout_page_shows_how_to_pay_without_script(stack: DevStack) -> None:
    s = native_session(stack, "olive", "Acme Store")
    address = to_checksum_address(s["address"])
    status, body = api_raw(stack, f"/checkout/{s['id']}")
    page = body.decode()
    assert status == 200
    for want in ("0.25", "ETH", address, "Waiting for payment", "Acme Store", "<svg"):
        assert want in page, f"{want!r} is not in the served HTML"
    assert html.escape(s["uri"]) in page and 'style="' not in page
    assert api_raw(stack, "/checkout/static/checkout.html")[0] == 404  # templates stay private
    status, missing = api_raw(stack, "/checkout/%3Cb%3Eses_nope")
    assert status == 404 and b"Payment not found" in missing and b"&lt;b&gt;ses_nope" in missing

    async def drive() -> None:
        async with Browser() as b:
            await b.scripts_disabled(True)
            await b.goto(s["checkout_url"])
            text = await b.text()
            for want in ("0.25", "ETH", address, "Waiting for payment", "Acme Store", "local"):
                assert want in text, f"{want!r} is not on the page without script: {text!r}"
            assert await b.eval("document.body.dataset.status") == "waiting"
            assert await b.eval("document.querySelector('button.copy').hidden"), "script ran"
            width, height = await b.eval(QR_BOX)
            assert width > 100 and height > 100, (width, height)
            assert await b.eval("document.getElementById('open-wallet').href") == s["uri"]
            assert await b.eval("document.getElementById('qr-link').href") == s["uri"]
            shot = await b.screenshot("checkout-noscript.png")
            assert_accessible(await b.axe())
            await b.phone()
            await b.goto(s["checkout_url"])
            assert address in await b.text()
            await b.screenshot("checkout-noscript-phone.png")
            assert shot.stat().st_size > 10_000
            await b.goto(f"{stack.cfg.api_url}/checkout/ses_unknown")
            assert "Payment not found" in await b.text()
            assert_accessible(await b.axe())
            assert not page_errors(b), page_errors(b)

    asyncio.run(drive())


def test_checkout_page_moves_from_waiting_to_confirmed(stack: DevStack) -> None:
    rpc = stack.cfg.rpc_url
    s = native_session(stack, "dave", "Acme Store")
    a = assign(stack, s["wallet_id"], "dave")
    assert s["address"] == a["address"] and s["status"] == "waiting"
    assert s["checkout_url"] == f"{stack.cfg.api_url}/checkout/{s['id']}"
    assert s["uri"] == f"ethereum:{to_checksum_address(a['address'])}@31337?value={AMOUNT}"
    status, qr = api_raw(stack, f"/checkout/{s['id']}/qr.svg")
    assert status == 200 and qr.startswith(b"<svg")
    status, _ = api_raw(stack, "/checkout/ses_unknown")
    assert status == 404

    async def drive() -> list[str]:
        async with Browser() as b:
            await b.phone()
            await b.goto(s["checkout_url"])
            seen: list[str] = []

            async def wait_status(want: set[str], timeout_s: float = 90) -> str:
                deadline = time.monotonic() + timeout_s
                while time.monotonic() < deadline:
                    st = await b.eval("document.body && document.body.dataset.status")
                    if st and (not seen or seen[-1] != st):
                        seen.append(st)
                    if st in want:
                        return str(st)
                    await asyncio.sleep(0.2)
                raise AssertionError(f"page status stayed {seen[-1:]} (wanted {want})")

            await wait_status({"waiting"})
            await b.eval("window.__loaded_once = 42")  # gone if the page reloads
            text = await b.text()
            assert "0.25" in text and "ETH" in text and to_checksum_address(a["address"]) in text
            width, _ = await b.eval(QR_BOX)
            assert width > 100, "the QR code is not drawn"
            # The script runs: it shows the copy buttons and counts down.
            await b.wait_for("!document.querySelector('button.copy').hidden", 10, "copy buttons")
            assert_accessible(await b.axe())
            await b.screenshot("checkout-waiting.png")

            await asyncio.to_thread(ct.send_eth, rpc, FUNDER, a["address"], AMOUNT)
            await wait_status({"seen", "confirmed"})
            await asyncio.to_thread(ct.mine, rpc, 3)
            await wait_status({"confirmed"})
            assert await b.eval("window.__loaded_once") == 42, "the page reloaded"
            assert "Payment confirmed" in await b.text()
            await b.wait_for("document.querySelectorAll('#transfer-list li').length === 1")
            await asyncio.sleep(0.7)  # let the progress bar's 0.5 s transition finish
            assert_accessible(await b.axe())
            shot = await b.screenshot("checkout-confirmed.png")
            assert not page_errors(b), page_errors(b)
            assert shot.stat().st_size > 10_000
            return seen

    seen = asyncio.run(drive())
    assert seen[0] == "waiting" and seen[-1] == "confirmed", seen
    final = status_of(stack, s["id"])
    assert final["status"] == "confirmed" and final["paid"] == str(AMOUNT)
    status, body = api_raw(stack, f"/checkout/{s['id']}")  # a reload renders it confirmed
    assert status == 200 and b"Payment confirmed" in body


def test_checkout_page_shows_a_hostile_label_as_text(stack: DevStack) -> None:
    s = native_session(stack, "mallory", HOSTILE)
    status, body = api_raw(stack, f"/checkout/{s['id']}")
    assert status == 200 and b"<img src=x" not in body and b"<script>alert" not in body

    async def drive() -> None:
        async with Browser() as b:
            await b.call("Page.addScriptToEvaluateOnNewDocument", source=TRAP_ALERTS)
            await b.goto(s["checkout_url"])
            await b.wait_for("!document.querySelector('button.copy').hidden", 10, "the script")
            await asyncio.sleep(1.5)  # a refresh or two by the script
            assert HOSTILE in await b.text()
            assert await b.eval("document.getElementById('merchant').textContent") == HOSTILE
            assert await b.count("img") == 0
            scripts = await b.eval(
                "Array.from(document.scripts, (s) => s.getAttribute('src') || s.type)"
            )
            assert scripts == ["/checkout/static/checkout.js", "application/json"], scripts
            assert await b.eval("window.__alerts") == []
            assert await b.count("[onerror], [onmouseover]") == 0
            assert not page_errors(b), page_errors(b)

    asyncio.run(drive())


def test_session_statuses_underpaid_overpaid_expired(stack: DevStack) -> None:
    rpc = stack.cfg.rpc_url
    w = register(stack, 4)
    token = ct.deploy_token(rpc, FUNDER)
    ct.mint(rpc, token, FUNDER, FUNDER, 10**12)
    under = session(stack, wallet_id=w["id"], user_ref="erin", asset=token, amount="100000000")
    assert under["asset"] == {
        "kind": "erc20",
        "contract": token,
        "symbol": "TST",
        "decimals": 6,
        "token_id": None,
    }
    assert under["uri"].startswith(f"ethereum:{to_checksum_address(token)}@31337/transfer?address=")
    assert under["uri"].endswith("&uint256=100000000")
    over = session(stack, wallet_id=w["id"], user_ref="frank", amount="1000")
    expired = session(stack, wallet_id=w["id"], user_ref="gina", expires_in=1)
    ct.token_transfer(rpc, token, FUNDER, under["address"], 40_000_000)
    ct.send_eth(rpc, FUNDER, over["address"], 1500)
    ct.mine(rpc, 3)
    wait_until(lambda: status_of(stack, under["id"])["status"] == "underpaid", what="underpaid")
    u = status_of(stack, under["id"])
    assert u["paid"] == "40000000" and u["remaining"] == "60000000"
    wait_until(lambda: status_of(stack, over["id"])["status"] == "overpaid", what="overpaid")
    time.sleep(1.2)
    assert status_of(stack, expired["id"])["status"] == "expired"
    status, public = api(stack, "GET", f"/checkout/{under['id']}/status")
    assert status == 200 and public["status"] == "underpaid"
    assert "user_ref" not in public and "wallet_id" not in public and "path" not in public
    # The page says the same before any script: rendered from the same status.
    for sid, wants in (
        (under["id"], [b"Partially paid", b"Still to send: 60 TST", b'id="amount">100<']),
        (over["id"], [b"Payment confirmed (overpaid)"]),
        (expired["id"], [b"Payment request expired"]),
    ):
        status, body = api_raw(stack, f"/checkout/{sid}")
        assert status == 200
        for want in wants:
            assert want in body, (sid, want)
