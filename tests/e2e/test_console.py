"""The admin console in a real headless Chromium against the shared stack: sign-in with
passwords, TOTP and lock-out; live deposits; redelivery; four-eyes approval by two operators
to confirmed; CSRF, XSS and signed-out sessions refused; every screen screenshotted at
desktop and phone width and checked with axe-core."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pyotp
import pytest

from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.browser import Browser, assert_accessible
from tests.e2e.conftest import api
from tests.e2e.custody import Custody, fresh_address
from tests.e2e.receiver import Receiver
from tests.e2e.test_pipeline import FUNDER
from tests.e2e.test_wallets import assign, register
from tests.e2e.traffic import wait_until

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
TRAP = "window.__alerts = []; window.alert = (m) => window.__alerts.push(String(m));"


@pytest.fixture(scope="module")
def operators(stack: DevStack) -> Iterator[dict[str, str]]:
    """Operators of the console: their passwords by name."""
    roles = {
        "ops-admin": ["admin"],
        "alice": ["operator", "approver"],
        "bob": ["approver"],
        "carol": ["approver", "viewer"],
        "vic": ["viewer"],
        "erin": ["operator"],
        "lou": ["viewer"],
        "tess": ["viewer"],
    }
    for name, r in roles.items():
        stack.new_operator(name, r, PASSWORD)
    yield {n: PASSWORD for n in roles}


def run(coro: Callable[[Browser], Awaitable[Any]]) -> Any:
    """Run one browser session."""

    async def go() -> Any:
        async with Browser() as b:
            return await coro(b)

    return asyncio.run(go())


async def sign_in(b: Browser, stack: DevStack, name: str, password: str, code: str = "") -> str:
    """Fill the sign-in form; the text of the page it lands on."""
    await b.goto(f"{stack.cfg.api_url}/admin/signin")
    await b.fill("#name", name)
    await b.fill("#password", password)
    if code:
        await b.fill("#code", code)
    await b.submit_and_wait("form[action='/admin/signin'] [type=submit]")
    return await b.text()


async def signed_in_as(b: Browser, stack: DevStack, name: str) -> None:
    text = await sign_in(b, stack, name, PASSWORD)
    assert "Dashboard" in text and name in text, text[:300]


async def post_form(b: Browser, path: str, fields: dict[str, str]) -> tuple[int, str]:
    """A form post made by script from the signed-in page (a forgery, or a missing token):
    the status and text it got (after redirects)."""
    got = await b.eval(
        f"""(async () => {{
            const r = await fetch({path!r}, {{method: 'POST', body: new URLSearchParams({fields!r}),
                credentials: 'same-origin'}});
            return [r.status, await r.text()];
        }})()"""
    )
    return int(got[0]), str(got[1])


async def reload_until(b: Browser, url: str, css: str, what: str, timeout_s: float = 60) -> None:
    """Load the page again until it shows `css` (pages without a live part)."""
    deadline = time.monotonic() + timeout_s
    while True:
        await b.goto(url)
        if await b.count(css):
            return
        assert time.monotonic() < deadline, f"{what}: not on {url}"
        await asyncio.sleep(0.5)


async def csrf(b: Browser) -> str:
    return str(await b.eval("document.querySelector('input[name=csrf]').value"))


async def shoot(b: Browser, name: str, axe_both: bool = False) -> None:
    """Screenshots at desktop and phone width, and axe-core at phone width (where the
    layout changes most; at both widths when asked)."""
    await b.screenshot(f"console/{name}-desktop.png")
    if axe_both:
        assert_accessible(await b.axe())
    await b.phone()
    await b.reload()
    await b.screenshot(f"console/{name}-phone.png")
    assert_accessible(await b.axe())
    await b.desktop()


def test_sign_in_wrong_password_lockout_and_sign_out(
    stack: DevStack, operators: dict[str, str]
) -> None:
    async def drive(b: Browser) -> None:
        text = await sign_in(b, stack, "vic", "not the password at all")
        assert "Wrong name, password or code." in text
        await shoot(b, "signin", axe_both=True)
        assert await b.cookie("bh_console") is None
        await signed_in_as(b, stack, "vic")
        cookie = await b.cookie("bh_console")
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert cookie["secure"], cookie
        # a viewer sees no withdrawal decisions and may not reach the keys
        await b.goto(f"{stack.cfg.api_url}/admin/keys")
        assert "Your roles do not allow this." in await b.text()
        # sign out, then the old cookie is refused
        await b.goto(f"{stack.cfg.api_url}/admin/")
        await b.submit_and_wait("form[action='/admin/signout'] button")
        assert "Sign in to blockhook" in await b.text()
        await b.set_cookie("bh_console", cookie["value"], stack.cfg.api_url + "/admin/")
        await b.goto(f"{stack.cfg.api_url}/admin/balances")
        assert "/admin/signin" in await b.url() and "Sign in to blockhook" in await b.text()
        # five wrong passwords lock the name out, the right one included
        for _ in range(5):
            assert "Wrong name" in await sign_in(b, stack, "lou", "wrong wrong wrong")
        text = await sign_in(b, stack, "lou", PASSWORD)
        assert "Too many failed sign-ins" in text, text[:300]

    run(drive)

    def outcomes() -> list[str]:
        status, audit = api(stack, "GET", "/v1/audit?action=console.signin&principal=lou")
        assert status == 200
        return [r["detail"].get("code") for r in audit["items"]]

    wait_until(lambda: "locked_out" in outcomes(), 30, "the lock-out audited")
    assert outcomes().count("wrong_credentials") == 5


def test_sign_out_everywhere_ends_the_other_sessions(
    stack: DevStack, operators: dict[str, str]
) -> None:
    async def drive(b: Browser) -> None:
        async with Browser() as other:
            await signed_in_as(other, stack, "erin")
            await signed_in_as(b, stack, "erin")
            await b.goto(f"{stack.cfg.api_url}/admin/account")
            await shoot(b, "account")
            await b.submit_and_wait("form[action='/admin/signout-everywhere'] button")
            await other.goto(f"{stack.cfg.api_url}/admin/deposits")
            assert "Sign in to blockhook" in await other.text()

    run(drive)


def test_totp_is_enforced_once_set_up_and_a_recovery_code_works_once(
    stack: DevStack, operators: dict[str, str]
) -> None:
    async def drive(b: Browser) -> None:
        await signed_in_as(b, stack, "tess")
        await b.goto(f"{stack.cfg.api_url}/admin/account")
        await b.submit_and_wait("form[action='/admin/account/totp'] button")
        secret = str(await b.eval("document.querySelector('code.secret').textContent"))
        assert await b.count(".qr svg") == 1
        await b.screenshot("console/totp-setup-desktop.png")
        totp = pyotp.TOTP(secret)
        await b.fill("#code", "000000" if totp.now() != "000000" else "111111")
        await b.submit_and_wait("form[action='/admin/account/totp/confirm'] button")
        assert "That code is not right" in await b.text()
        await b.fill("#code", totp.now())
        await b.submit_and_wait("form[action='/admin/account/totp/confirm'] button")
        codes = await b.eval(
            "[...document.querySelectorAll('ul.codes code')].map(e => e.textContent)"
        )
        assert len(codes) == 10
        await b.submit_and_wait("form[action='/admin/signout'] button")
        # the password alone no longer does
        assert "Wrong name, password or code." in await sign_in(b, stack, "tess", PASSWORD)
        # a recovery code does, once
        assert "Dashboard" in await sign_in(b, stack, "tess", PASSWORD, codes[0])
        await b.submit_and_wait("form[action='/admin/signout'] button")
        assert "Wrong name" in await sign_in(b, stack, "tess", PASSWORD, codes[0])
        # the next step's code (the one used at set-up is spent)
        nxt = totp.at(int(time.time()) + totp.interval)
        assert "Dashboard" in await sign_in(b, stack, "tess", PASSWORD, nxt)

    run(drive)


def test_deposit_appears_and_confirms_without_a_reload(
    stack: DevStack, operators: dict[str, str]
) -> None:
    rpc = stack.cfg.rpc_url
    w = register(stack, 7, "console deposits")
    status, mon = api(stack, "POST", "/v1/monitors", {"chain": "local", "wallet_ids": [w["id"]]})
    assert status == 201, mon
    a = assign(stack, w["id"], "dave-console")

    async def drive(b: Browser) -> None:
        await signed_in_as(b, stack, "vic")
        await b.goto(f"{stack.cfg.api_url}/admin/deposits?q=dave-console")
        assert "No deposits match." in await b.text()
        await b.eval("window.__same_page = 42")
        tx = await asyncio.to_thread(ct.send_eth, rpc, FUNDER, a["address"], 125 * 10**15)
        row = f"tr[data-tx='{tx}']"
        await b.wait_for(f'!!document.querySelector("{row}")', 60, "the deposit's row")
        assert "0.125 ETH" in await b.text() and "dave-console" in await b.text()
        await asyncio.to_thread(ct.mine, rpc, 3)
        await b.wait_for(
            f"document.querySelector(\"{row}\")?.dataset.state === 'confirmed'", 60, "confirmed"
        )
        assert await b.eval("window.__same_page") == 42, "the page reloaded"
        await shoot(b, "deposits")

    run(drive)


def test_failed_delivery_is_redelivered_from_the_console_after_the_endpoint_recovers(
    stack: DevStack, operators: dict[str, str], receiver: Receiver
) -> None:
    rpc = stack.cfg.rpc_url
    down = {"on": True}
    receiver.status_for = lambda path: 503 if down["on"] else 200
    to = fresh_address()
    status, mon = api(
        stack,
        "POST",
        "/v1/monitors",
        {
            "chain": "local",
            "name": "console redelivery",
            "addresses": [to],
            "webhook": {"url": receiver.url + "/hook"},
            "retry": {"delays_s": [3600]},  # the original waits an hour: only ours goes
        },
    )
    assert status == 201, mon
    ct.send_eth(rpc, FUNDER, to, 10**15)
    wait_until(lambda: len(receiver.received) >= 1, 60, "the first (failed) attempt")

    async def drive(b: Browser) -> str:
        await signed_in_as(b, stack, "erin")
        failed = f"{stack.cfg.api_url}/admin/deliveries?monitor_id={mon['id']}&code=503"
        await reload_until(b, failed, "tr[data-id]", "the failed delivery")
        text = await b.text()
        assert "503" in text and "pending" in text, text[:500]
        await shoot(b, "deliveries")
        did = await b.eval("document.querySelector('tr[data-id]').dataset.id")
        await b.goto(f"{stack.cfg.api_url}/admin/deliveries/{did}")
        await shoot(b, "delivery")
        down["on"] = False
        n = len(receiver.received)
        await b.goto(f"{stack.cfg.api_url}/admin/deliveries?monitor_id={mon['id']}")
        await b.click(f"input[value='{did}']")
        await b.submit_and_wait("form[action='/admin/deliveries/redeliver'] button[type=submit]")
        assert "1 sent again" in await b.text()
        wait_until(lambda: len(receiver.received) > n, 30, "the redelivery")
        delivered = f"{stack.cfg.api_url}/admin/deliveries?monitor_id={mon['id']}&status=delivered"
        for _ in range(60):
            await b.goto(delivered)
            if f"again of {did}" in await b.text():
                break
            await asyncio.sleep(0.5)
        assert f"again of {did}" in await b.text(), "the redelivery is not listed as delivered"
        return str(did)

    did = run(drive)
    query = f"/v1/audit?action=delivery.redeliver&principal=erin&target={did}"

    def audited() -> bool:
        status, got = api(stack, "GET", query)
        return status == 200 and any(r["detail"].get("via") == "console" for r in got["items"])

    wait_until(audited, 30, "the redelivery audited under erin")


def test_withdrawal_approved_in_the_console_by_two_operators_reaches_confirmed(
    stack: DevStack, operators: dict[str, str], custody: Custody
) -> None:
    rec = custody.request(fresh_address(), 10**15)  # alice, through the API
    wid = rec["id"]
    url = f"{stack.cfg.api_url}/admin/withdrawals/{wid}"

    async def as_requester(b: Browser) -> None:
        await signed_in_as(b, stack, "alice")
        await b.goto(url)
        assert "You requested this withdrawal" in await b.text()
        assert await b.count("#approve") == 0
        await b.goto(f"{stack.cfg.api_url}/admin/withdrawals")
        assert await b.count(f"button[name=one][value='{wid}']") == 0
        # a forged approve, token and all, is refused by the four-eyes rule
        token = await csrf(b)
        status, text = await post_form(
            b,
            "/admin/withdrawals/decide",
            {"csrf": token, "id": wid, "verb": "approve", "back": f"/admin/withdrawals/{wid}"},
        )
        assert status == 200 and "self_approval" in text, text[:400]
        # without the token it does not even get there
        status, text = await post_form(
            b, "/admin/withdrawals/decide", {"id": wid, "verb": "approve"}
        )
        assert status == 403 and "was not sent from this console" in text

    run(as_requester)
    assert custody.get(wid)["approvals"] == []

    async def bob(b: Browser) -> None:
        await signed_in_as(b, stack, "bob")
        await b.goto(f"{stack.cfg.api_url}/admin/withdrawals")
        await shoot(b, "withdrawals")
        await b.submit_and_wait(f"button[name=one][value='{wid}']")
        assert "1 approved" in await b.text()

    run(bob)
    assert [a["principal"] for a in custody.get(wid)["approvals"]] == ["bob"]

    async def carol(b: Browser) -> None:
        await signed_in_as(b, stack, "carol")
        await b.goto(url)
        await b.submit_and_wait("#approve")
        await b.wait_for(
            "document.querySelector('#wd-status').textContent !== 'pending_approval'", 20
        )
        for _ in range(120):
            st = await b.eval("document.querySelector('#wd-status').textContent")
            if st == "confirmed":
                break
            if st == "broadcast":
                await asyncio.to_thread(ct.mine, custody.rpc)
            await asyncio.sleep(0.5)
        assert st == "confirmed", st
        text = await b.text()
        assert "approved by bob" in text and "approved by carol" in text and "broadcast as" in text
        await shoot(b, "withdrawal")

    run(carol)


def test_hostile_names_urls_and_customer_refs_render_as_text_on_every_page(
    stack: DevStack, operators: dict[str, str]
) -> None:
    rpc = stack.cfg.rpc_url
    w = register(stack, 8, HOSTILE)
    url = "http://127.0.0.1:9/h?q=%22'%3E%3Cscript%3Ealert(3)%3C/script%3E&x=\"'><b>"
    status, mon = api(
        stack,
        "POST",
        "/v1/monitors",
        {"chain": "local", "name": HOSTILE, "wallet_ids": [w["id"]], "webhook": {"url": url}},
    )
    assert status == 201, mon
    a = assign(stack, w["id"], HOSTILE)
    ct.send_eth(rpc, FUNDER, a["address"], 10**15)
    api_url = stack.cfg.api_url
    pages = [
        ("/admin/monitors", True),
        (f"/admin/monitors/{mon['id']}", True),
        (f"/admin/deliveries?monitor_id={mon['id']}", True),
        ("/admin/deposits", True),
        ("/admin/wallets", True),
        (f"/admin/wallets/{w['id']}", True),
        ("/admin/balances", True),
        ("/admin/", False),
        (f"/admin/audit?target={mon['id']}", False),
    ]

    async def drive(b: Browser) -> None:
        await b.call("Page.addScriptToEvaluateOnNewDocument", source=TRAP)
        await signed_in_as(b, stack, "ops-admin")
        await reload_until(
            b, f"{api_url}/admin/deliveries?monitor_id={mon['id']}", "tr[data-id]", "a delivery"
        )
        for path, shows in pages:
            await b.goto(api_url + path)
            await asyncio.sleep(0.3)  # let a live part refresh once
            text = await b.text()
            if shows:
                assert HOSTILE in text, (path, text[:400])
            assert await b.count("img") == 0, path
            assert await b.count("b") == 0, path
            assert await b.count("script") == 1, path  # console.js only
            assert await b.eval("window.__alerts.length") == 0, path
        assert not b.errors(), b.errors()

    run(drive)


def test_the_audit_shows_it_all_and_the_chain_verifies_and_every_screen_is_accessible(
    stack: DevStack, operators: dict[str, str], custody: Custody
) -> None:
    api_url = stack.cfg.api_url
    register(stack, 9, "audit screens")  # a wallet's page to show, whatever ran before
    wid = custody.request(fresh_address(), 10**14)["id"]

    async def approve(b: Browser) -> None:
        await signed_in_as(b, stack, "bob")
        await b.goto(f"{api_url}/admin/withdrawals/{wid}")
        await b.submit_and_wait("#approve")
        assert "1 approved" in await b.text()

    run(approve)

    async def drive(b: Browser) -> None:
        # a sign-in form posted without its token is refused
        await b.goto(f"{api_url}/admin/signin")
        status, text = await post_form(
            b, "/admin/signin", {"name": "ops-admin", "password": PASSWORD}
        )
        assert status == 403 and "sign-in form expired" in text
        await signed_in_as(b, stack, "ops-admin")
        for path, name in [
            ("/admin/", "dashboard"),
            ("/admin/balances", "balances"),
            ("/admin/monitors", "monitors"),
            ("/admin/monitors/new", "monitor-new"),
            ("/admin/wallets", "wallets"),
            ("/admin/keys", "keys"),
            ("/admin/operators", "operators"),
        ]:
            await b.goto(api_url + path)
            await shoot(b, name, axe_both=name == "dashboard")
        await b.goto(f"{api_url}/admin/wallets")
        wallet_link = "document.querySelector('a[href^=\"/admin/wallets/wal_\"]').href"
        await b.goto(str(await b.eval(wallet_link)))
        await shoot(b, "wallet")
        # a key made in the console: its secret once
        await b.goto(f"{api_url}/admin/keys")
        await b.fill("#principal", "console-made")
        await b.click("input[name=roles][value=viewer]")
        await b.submit_and_wait("form[action='/admin/keys'] button[type=submit]")
        secret = str(await b.eval("document.querySelector('code.secret').textContent"))
        assert secret.startswith("bhsk_")
        await b.goto(f"{api_url}/admin/keys")
        assert secret not in await b.html()
        kid = str(
            await b.eval(
                "[...document.querySelectorAll('tr[data-id]')]"
                ".find(r => r.children[1].textContent === 'console-made').dataset.id"
            )
        )
        status, key = api(stack, "GET", f"/v1/keys/{kid}")
        assert status == 200 and key["principal"] == "console-made" and not key["revoked"]
        await b.submit_and_wait(f"form[action='/admin/keys/{kid}/revoke'] button")
        assert f"Key {kid} revoked." in await b.text()
        assert api(stack, "GET", f"/v1/keys/{kid}")[1]["revoked"] is True
        # the treasury's balance over time, drawn on the server
        await b.goto(f"{api_url}/admin/balances")
        assert await b.count("svg.chart polyline") >= 1
        # the audit: who did what, and the chain verifies
        needed = ("withdrawal.approve", "console.signin", "key.create", "key.revoke")
        for _ in range(40):  # the chainer puts each record in order a moment after the act
            await b.goto(f"{api_url}/admin/audit")
            text = await b.text()
            if all(n in text for n in needed):
                break
            await asyncio.sleep(0.5)
        for n in needed:
            assert n in text, n
        await b.goto(f"{api_url}/admin/audit?action=withdrawal.approve&target={wid}")
        who = await b.eval(
            "[...document.querySelectorAll('tr[data-action] td:nth-child(3)')]"
            ".map(e => e.textContent)"
        )
        assert who == ["bob"], who
        await b.goto(f"{api_url}/admin/audit?action=auth.refused")
        assert "csrf_failed" in await b.text()
        await b.goto(f"{api_url}/admin/audit")
        await b.submit_and_wait("#verify")
        assert "The chain verifies" in await b.text()
        await shoot(b, "audit")

    run(drive)


def test_bulk_approval_monitor_form_and_csv_exports(
    stack: DevStack, operators: dict[str, str], custody: Custody
) -> None:
    ids = [custody.request(fresh_address(), 10**14 * (i + 1))["id"] for i in range(3)]
    api_url = stack.cfg.api_url

    async def approve_all(b: Browser, who: str) -> None:
        await signed_in_as(b, stack, who)
        await b.goto(f"{api_url}/admin/withdrawals")
        for wid in ids:
            await b.click(f"input[name=id][value='{wid}']")
        await b.submit_and_wait("button[name=verb][value=approve]")
        assert "3 approved" in await b.text(), (await b.text())[:400]

    run(lambda b: approve_all(b, "bob"))
    run(lambda b: approve_all(b, "carol"))
    for wid in ids:
        assert custody.get(wid)["status"] not in ("pending_approval", "rejected"), wid
    for wid in ids:  # done before the next test: the treasury's nonces are then at rest
        custody.until(wid, "confirmed")

    async def operate(b: Browser) -> None:
        await signed_in_as(b, stack, "erin")
        # a monitor made, changed and paused in the console
        await b.goto(f"{api_url}/admin/monitors/new")
        await b.fill("#name", "made in the console")
        await b.fill("#addresses", fresh_address() + "\n" + fresh_address())
        await b.fill("#webhook_url", "http://127.0.0.1:9/hook")
        await b.submit_and_wait("form[action='/admin/monitors'] button[type=submit]")
        text = await b.text()
        assert "Monitor made in the console created" in text and "whsec_" in text, text[:300]
        mid = str(await b.eval("document.querySelector('main code').textContent"))
        status, mon = api(stack, "GET", f"/v1/monitors/{mid}")
        assert status == 200 and len(mon["addresses"]) == 2 and mon["active"]
        await b.goto(f"{api_url}/admin/monitors/{mid}")
        await b.fill("#name", "renamed in the console")
        await b.submit_and_wait(f"form[action='/admin/monitors/{mid}'] button[type=submit]")
        assert "Saved." in await b.text()
        await b.goto(f"{api_url}/admin/monitors")
        await b.submit_and_wait(f"form[action='/admin/monitors/{mid}/pause'] button")
        assert "paused" in await b.text()
        status, mon = api(stack, "GET", f"/v1/monitors/{mid}")
        assert mon["name"] == "renamed in the console" and mon["active"] is False
        assert mon["webhook"]["secret"].startswith("whsec_")
        # a bad monitor gets its form back with the reason, nothing stored
        await b.goto(f"{api_url}/admin/monitors/new")
        await b.fill("#addresses", "0xnot-an-address")
        await b.submit_and_wait("form[action='/admin/monitors'] button[type=submit]")
        assert "addresses" in await b.text() and await b.count("#addresses") == 1
        # exports
        status, text = await csv_of(b, "/admin/withdrawals.csv?status=all")
        assert status == 200 and text.startswith("id,status,chain,")
        assert all(wid in text for wid in ids)
        status, text = await csv_of(b, "/admin/deposits.csv")
        assert status == 200 and text.startswith("first_seen,wallet_id,user_ref,")
        assert custody.wallet["id"] in text  # the treasury's funding, at least

    run(operate)

    async def audit_export(b: Browser) -> None:
        await signed_in_as(b, stack, "ops-admin")
        status, text = await csv_of(b, "/admin/audit.csv?action=withdrawal.approve")
        assert status == 200 and text.startswith("seq,at,principal,")
        assert sum(wid in text for wid in ids) == 3

    run(audit_export)


async def csv_of(b: Browser, path: str) -> tuple[int, str]:
    got = await b.eval(
        f"fetch({path!r}, {{credentials: 'same-origin'}})"
        ".then(async r => [r.status, await r.text()])"
    )
    return int(got[0]), str(got[1])
