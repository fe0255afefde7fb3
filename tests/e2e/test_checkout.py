"""Deposit sessions and the checkout page, in a real headless Chromium driven over the
DevTools protocol: the status moves from waiting to confirmed without a reload."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from eth_utils.address import to_checksum_address

from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.conftest import ARTIFACTS, api
from tests.e2e.test_pipeline import FUNDER
from tests.e2e.test_wallets import assign, register, wait_until

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """Headless Chromium with one page, driven over the DevTools protocol (CDP)."""

    def __init__(self) -> None:
        assert CHROMIUM, "Debian's chromium is needed (make setup installs it)"
        self.profile = Path(tempfile.mkdtemp(prefix="bh-chromium-"))
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-extensions",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.http: aiohttp.ClientSession | None = None

    async def connect(self) -> None:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            assert self.proc.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium did not start"
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self.http = aiohttp.ClientSession()
        async with self.http.get(f"http://127.0.0.1:{port}/json/list") as r:
            targets = await r.json(content_type=None)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = await self.http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.ws is not None
        mid = next(self._ids)
        await self.ws.send_str(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive(timeout=60)).data)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result

    async def eval(self, expr: str) -> Any:
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r.get("result", {}).get("value")

    async def screenshot(self, path: Path) -> None:
        r = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        import base64

        await asyncio.to_thread(_write, path, base64.b64decode(r["data"]))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def session(stack: DevStack, **body: Any) -> dict[str, Any]:
    status, s = api(stack, "POST", "/v1/sessions", body)
    assert status == 201, s
    return s


def status_of(stack: DevStack, sid: str) -> dict[str, Any]:
    status, s = api(stack, "GET", f"/v1/sessions/{sid}")
    assert status == 200, s
    return s


def test_checkout_page_moves_from_waiting_to_confirmed(stack: DevStack) -> None:
    rpc = stack.cfg.rpc_url
    w = register(stack, 3, "Acme Store")
    s = session(
        stack,
        wallet_id=w["id"],
        user_ref="dave",
        asset="native",
        amount=str(25 * 10**16),
        expires_in=900,
        label="Acme Store",
    )
    a = assign(stack, w["id"], "dave")
    assert s["address"] == a["address"] and s["status"] == "waiting"
    assert s["checkout_url"] == f"{stack.cfg.api_url}/checkout/{s['id']}"
    assert s["uri"] == f"ethereum:{to_checksum_address(a['address'])}@31337?value={25 * 10**16}"
    status, qr = api_raw(stack, f"/checkout/{s['id']}/qr.svg")
    assert status == 200 and qr.startswith(b"<svg")
    status, _ = api_raw(stack, "/checkout/ses_unknown")
    assert status == 404

    async def drive() -> list[str]:
        b = Browser()
        try:
            await b.connect()
            await b.call("Page.enable")
            await b.call(
                "Emulation.setDeviceMetricsOverride",
                width=390,
                height=844,
                deviceScaleFactor=2,
                mobile=True,
            )
            await b.call("Page.navigate", url=s["checkout_url"])
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
            text = await b.eval("document.body.innerText")
            assert "0.25" in text and "ETH" in text and to_checksum_address(a["address"]) in text
            qr_ok = "document.getElementById('qr').complete && qr.naturalWidth > 0"
            for _ in range(50):
                if await b.eval(qr_ok):
                    break
                await asyncio.sleep(0.1)
            assert await b.eval(qr_ok), "the QR code did not load"
            await b.screenshot(ARTIFACTS / "checkout-waiting.png")

            await asyncio.to_thread(ct.send_eth, rpc, FUNDER, a["address"], 25 * 10**16)
            await wait_status({"seen", "confirmed"})
            await asyncio.to_thread(ct.mine, rpc, 3)
            await wait_status({"confirmed"})
            assert await b.eval("window.__loaded_once") == 42, "the page reloaded"
            assert "Payment confirmed" in await b.eval("document.body.innerText")
            await asyncio.sleep(0.7)  # let the progress bar's 0.5 s transition finish
            await b.screenshot(ARTIFACTS / "checkout-confirmed.png")
            return seen
        finally:
            await b.close()

    seen = asyncio.run(drive())
    assert seen[0] in ("loading", "waiting") and seen[-1] == "confirmed", seen
    assert "waiting" in seen
    assert (ARTIFACTS / "checkout-confirmed.png").stat().st_size > 10_000
    final = status_of(stack, s["id"])
    assert final["status"] == "confirmed" and final["paid"] == str(25 * 10**16)


def api_raw(stack: DevStack, path: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(stack.cfg.api_url + path, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


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
