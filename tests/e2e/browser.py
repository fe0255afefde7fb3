"""A small headless-Chromium driver for end-to-end tests, over the DevTools protocol (CDP).

One browser, one page, driven through aiohttp's websocket client: navigation that waits for
the load event, real mouse and keyboard input, cookies, script toggling, full-page
screenshots and axe-core accessibility checks. Needs Debian's `chromium`; axe-core comes
from `.tools/` (the Makefile's tools target installs it).

    async with Browser() as b:
        await b.phone()
        await b.goto(url)
        await b.click("button[type=submit]")
        assert_accessible(await b.axe())
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from tests.e2e.conftest import ARTIFACTS

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DESKTOP = (1280, 900, False)  # width, height, mobile
PHONE = (390, 844, True)
SHOT_MAX_HEIGHT = 8000  # screenshots are cut here (see Browser.screenshot)
BLOCKING = ("serious", "critical")  # the axe impacts assert_accessible fails on
# Keys press() knows: key -> (code, Windows virtual key code, text it types).
KEYS: dict[str, tuple[str, int, str]] = {
    "Enter": ("Enter", 13, "\r"),
    "Tab": ("Tab", 9, ""),
    "Escape": ("Escape", 27, ""),
    "Backspace": ("Backspace", 8, ""),
    "Space": ("Space", 32, " "),
    "ArrowDown": ("ArrowDown", 40, ""),
    "ArrowUp": ("ArrowUp", 38, ""),
}
FLAGS = (
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
)


class Browser:
    """Headless Chromium with one page. Start it with `await start()` (or `async with`);
    every method raises AssertionError with a readable message when the page disagrees."""

    def __init__(self, timeout_s: float = 30.0) -> None:
        assert CHROMIUM, "Debian's chromium is needed (make setup installs it)"
        self.timeout_s = timeout_s
        self.profile = Path(tempfile.mkdtemp(prefix="bh-chromium-"))
        self.proc: asyncio.subprocess.Process | None = None
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.log: list[dict[str, Any]] = []  # console calls, exceptions and browser log entries
        self._ids = itertools.count(1)
        self._calls: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waits: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self._reader: asyncio.Task[None] | None = None
        self._scripts_off = False

    async def __aenter__(self) -> Browser:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- the connection -------------------------------------------------------------------

    async def start(self) -> None:
        """Launch Chromium, attach to its page, enable Page/Runtime/Network/Log; desktop size."""
        assert CHROMIUM
        self.proc = await asyncio.create_subprocess_exec(
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={self.profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        port = await self._devtools_port()
        self.http = aiohttp.ClientSession()
        async with self.http.get(f"http://127.0.0.1:{port}/json/list") as r:
            targets = await r.json(content_type=None)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = await self.http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        for domain in ("Page", "Runtime", "Network", "Log"):
            await self.call(f"{domain}.enable")
        await self.desktop()

    async def _devtools_port(self) -> int:
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while True:
            text = await asyncio.to_thread(_read_text, port_file)
            if text.strip():
                return int(text.split()[0])
            assert self.proc is not None and self.proc.returncode is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium did not start"
            await asyncio.sleep(0.1)

    async def _read(self) -> None:
        """Route each message: answers to their call, events to whoever waits for them."""
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            m = json.loads(msg.data)
            if "id" in m:
                fut = self._calls.pop(m["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(m)
                continue
            method, params = m.get("method", ""), m.get("params", {})
            if method in ("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded"):
                self.log.append({"method": method, **params})
            for name, fut in list(self._waits):
                if name == method and not fut.done():
                    fut.set_result(params)
                    self._waits.remove((name, fut))
        for fut in self._calls.values():
            if not fut.done():
                fut.set_exception(AssertionError("the DevTools connection closed"))

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One CDP command; its result, or AssertionError with the protocol's error."""
        assert self.ws is not None, "start() the browser first"
        mid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[mid] = fut
        await self.ws.send_str(json.dumps({"id": mid, "method": method, "params": params}))
        try:
            msg = await asyncio.wait_for(fut, self.timeout_s)
        except TimeoutError:
            raise AssertionError(f"{method}: no answer in {self.timeout_s}s") from None
        finally:
            self._calls.pop(mid, None)
        if "error" in msg:
            raise AssertionError(f"{method}: {msg['error']}")
        result: dict[str, Any] = msg.get("result", {})
        return result

    def expect(self, event: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the next `event` (e.g. "Page.loadEventFired"): ask before acting."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waits.append((event, fut))
        return fut

    async def _await_event(self, fut: asyncio.Future[dict[str, Any]], what: str) -> None:
        try:
            await asyncio.wait_for(fut, self.timeout_s)
        except TimeoutError:
            raise AssertionError(f"{what}: no load event in {self.timeout_s}s") from None

    async def close(self) -> None:
        """Close the connection, stop Chromium, remove its profile."""
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self.http is not None:
            await self.http.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await asyncio.to_thread(shutil.rmtree, self.profile, True)

    # -- the page -------------------------------------------------------------------------

    async def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        """Emulate a screen of this CSS size (a phone: 3x pixels, touch-style viewport)."""
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=3 if mobile else 1,
            mobile=mobile,
        )

    async def desktop(self) -> None:
        """A 1280x900 desktop window."""
        await self.viewport(*DESKTOP)

    async def phone(self) -> None:
        """A 390x844 phone screen."""
        await self.viewport(*PHONE)

    async def scripts_disabled(self, disabled: bool = True) -> None:
        """Turn the page's own scripts off (or back on) from the next navigation on; eval()
        still runs, and axe() turns them on for as long as it runs (the page's own scripts,
        never started, stay so)."""
        await self.call("Emulation.setScriptExecutionDisabled", value=disabled)
        self._scripts_off = disabled

    async def goto(self, url: str) -> None:
        """Navigate and wait for the load event."""
        loaded = self.expect("Page.loadEventFired")
        r = await self.call("Page.navigate", url=url)
        if r.get("errorText"):
            loaded.cancel()
            raise AssertionError(f"navigating to {url}: {r['errorText']}")
        if "loaderId" not in r:  # same-document (a #fragment): no load event comes
            loaded.cancel()
            return
        await self._await_event(loaded, f"goto {url}")

    async def reload(self) -> None:
        """Reload the page and wait for the load event."""
        loaded = self.expect("Page.loadEventFired")
        await self.call("Page.reload")
        await self._await_event(loaded, "reload")

    async def eval(self, js: str) -> Any:
        """The value of a JavaScript expression (promises awaited), or AssertionError with the
        exception it threw."""
        r = await self.call(
            "Runtime.evaluate", expression=js, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise AssertionError(
                f"{js[:120]!r} threw: {d.get('exception', {}).get('description') or d.get('text')}"
            )
        return r.get("result", {}).get("value")

    async def url(self) -> str:
        """The page's current address."""
        return str(await self.eval("location.href"))

    async def text(self) -> str:
        """What a reader sees: document.body.innerText."""
        return str(await self.eval("document.body ? document.body.innerText : ''"))

    async def html(self) -> str:
        """The live DOM as HTML (after any script changed it)."""
        return str(await self.eval("document.documentElement.outerHTML"))

    async def count(self, css: str) -> int:
        """How many elements match a CSS selector."""
        return int(await self.eval(f"document.querySelectorAll({json.dumps(css)}).length"))

    async def wait_for(self, js_predicate: str, timeout_s: float = 10.0, what: str = "") -> Any:
        """Poll a JavaScript expression until it is truthy; its value. AssertionError naming
        the expression and its last value (or error) when the time runs out."""
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while True:
            try:
                last = await self.eval(js_predicate)
                if last:
                    return last
            except AssertionError as e:  # mid-navigation, or not there yet
                last = e
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"waited {timeout_s}s for {what or js_predicate!r}; last: {last!r}"
                )
            await asyncio.sleep(0.1)

    # -- input ----------------------------------------------------------------------------

    async def _centre(self, css: str) -> tuple[float, float]:
        """Scroll the element into view; the centre of its box, checked to be on top there."""
        sel = json.dumps(css)
        found = await self.eval(
            f"""(() => {{
              const el = document.querySelector({sel});
              if (!el) return "missing";
              el.scrollIntoView({{block: "center", inline: "center"}});
              const r = el.getBoundingClientRect();
              if (r.width === 0 || r.height === 0) return "invisible";
              const x = r.left + r.width / 2, y = r.top + r.height / 2;
              const top = document.elementFromPoint(x, y);
              if (top && top !== el && !el.contains(top)) {{
                return "covered by " + top.outerHTML.slice(0, 80);
              }}
              return [x, y];
            }})()"""
        )
        if not isinstance(found, list):
            raise AssertionError(f"cannot click {css}: {found}")
        return float(found[0]), float(found[1])

    async def click(self, css: str) -> None:
        """A real left click (mouse moved, pressed, released) at the element's centre."""
        x, y = await self._centre(css)
        await self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            await self.call(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )

    async def click_and_wait_load(self, css: str) -> None:
        """Click (a link, a submit button) and wait for the page load it starts."""
        loaded = self.expect("Page.loadEventFired")
        await self.click(css)
        await self._await_event(loaded, f"click {css}")

    async def submit_and_wait(self, css: str = "[type=submit]") -> None:
        """Click a form's submit button and wait for the page the form leads to."""
        await self.click_and_wait_load(css)

    async def fill(self, css: str, value: str) -> None:
        """Focus a field, clear it and type `value` as keyboard text (input events fire);
        a <select> gets the option with that value."""
        sel = json.dumps(css)
        kind = await self.eval(
            f"""(() => {{
              const el = document.querySelector({sel});
              if (!el) return "missing";
              el.scrollIntoView({{block: "center"}});
              el.focus();
              if (el.tagName === "SELECT") {{
                el.value = {json.dumps(value)};
                el.dispatchEvent(new Event("input", {{bubbles: true}}));
                el.dispatchEvent(new Event("change", {{bubbles: true}}));
                return "select";
              }}
              if (typeof el.select === "function") el.select();
              return document.activeElement === el ? "field" : "unfocusable";
            }})()"""
        )
        if kind not in ("field", "select"):
            raise AssertionError(f"cannot fill {css}: {kind}")
        if kind == "field":
            await self.call("Input.insertText", text=value)  # replaces the selected text
            got = await self.eval(f"document.querySelector({sel}).value")
            if got != value:
                raise AssertionError(f"{css} holds {got!r} after typing {value!r}")

    async def press(self, key: str) -> None:
        """Press and release one key (a name from KEYS, or a single character)."""
        if key in KEYS:
            code, vk, text = KEYS[key]
        else:
            assert len(key) == 1, f"press(): unknown key {key!r} (one of {sorted(KEYS)} or a char)"
            code, vk, text = f"Key{key.upper()}", ord(key.upper()), key
        common = {"key": " " if key == "Space" else key, "code": code, "windowsVirtualKeyCode": vk}
        down = {"type": "keyDown", "text": text} if text else {"type": "rawKeyDown"}
        await self.call("Input.dispatchKeyEvent", **down, **common)
        await self.call("Input.dispatchKeyEvent", type="keyUp", **common)

    # -- cookies --------------------------------------------------------------------------

    async def cookies(self) -> list[dict[str, Any]]:
        """Every cookie the browser holds (name, value, domain, path, httpOnly, ...)."""
        r = await self.call("Network.getAllCookies")
        cookies: list[dict[str, Any]] = r.get("cookies", [])
        return cookies

    async def cookie(self, name: str) -> dict[str, Any] | None:
        """The cookie of that name, if the browser holds one."""
        return next((c for c in await self.cookies() if c["name"] == name), None)

    async def set_cookie(self, name: str, value: str, url: str, **attrs: Any) -> None:
        """Store a cookie as if `url` had set it; attrs are CDP's (httpOnly, secure,
        sameSite, expires, path, domain)."""
        r = await self.call("Network.setCookie", name=name, value=value, url=url, **attrs)
        if r.get("success") is False:
            raise AssertionError(f"the browser refused the cookie {name}")

    async def clear_cookies(self) -> None:
        """Forget every cookie."""
        await self.call("Network.clearBrowserCookies")

    # -- evidence -------------------------------------------------------------------------

    async def screenshot(self, path: str | Path) -> Path:
        """The whole page (not just the viewport, up to SHOT_MAX_HEIGHT pixels) as PNG; a
        relative path is under ARTIFACTS."""
        out = ARTIFACTS / path
        m = await self.call("Page.getLayoutMetrics")
        size = m.get("cssContentSize") or m["contentSize"]
        # A long page (the audit log after a whole suite) is cut at SHOT_MAX_HEIGHT: the top
        # is the evidence, and capturing tens of thousands of pixels takes the browser
        # longer than its answer timeout on a loaded machine.
        height = min(size["height"], SHOT_MAX_HEIGHT)
        clip = {"x": 0, "y": 0, "width": size["width"], "height": height, "scale": 1}
        r = await self.call(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
        )
        await asyncio.to_thread(_write, out, base64.b64decode(r["data"]))
        return out

    def errors(self, keep: Callable[[dict[str, Any]], bool] | None = None) -> list[str]:
        """Script exceptions, console errors and browser errors (a CSP refusal is one) seen
        so far, as text; `keep` filters the raw entries."""
        out = []
        for e in self.log:
            if keep is not None and not keep(e):
                continue
            if e["method"] == "Runtime.exceptionThrown":
                d = e["exceptionDetails"]
                out.append(str(d.get("exception", {}).get("description") or d.get("text")))
            elif e["method"] == "Runtime.consoleAPICalled" and e.get("type") == "error":
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in e["args"]))
            elif e["method"] == "Log.entryAdded" and e["entry"].get("level") == "error":
                out.append(f"{e['entry'].get('source')}: {e['entry'].get('text')}")
        return out

    async def axe(self, context: str | dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run axe-core on the page (or on `context`, a CSS selector or an axe context) and
        return its violations. Injected over CDP, so the page's CSP does not stop it."""
        if not await self.eval("typeof window.axe === 'object'"):
            source = await asyncio.to_thread(_read_text, AXE_JS)
            assert source, f"no axe-core at {AXE_JS}: rm .tools/.installed; make setup"
            r = await self.call("Runtime.evaluate", expression=source, returnByValue=True)
            assert "exceptionDetails" not in r, f"axe-core did not load: {r['exceptionDetails']}"
        ctx = "document" if context is None else json.dumps(context)
        off = self._scripts_off
        if off:  # axe needs timers, which do not run while scripts are off
            await self.scripts_disabled(False)
        try:
            violations = await self.eval(
                f"axe.run({ctx}, {{resultTypes: ['violations']}}).then(r => r.violations)"
            )
        finally:
            if off:
                await self.scripts_disabled(True)
        assert isinstance(violations, list), f"axe.run gave {violations!r}"
        return violations


def assert_accessible(
    violations: list[dict[str, Any]], impacts: tuple[str, ...] = BLOCKING
) -> None:
    """Fail on every axe violation of these impacts (serious and critical by default), with
    its rule, impact, help text and a few of the elements it found."""
    bad = [v for v in violations if v.get("impact") in impacts]
    lines = []
    for v in bad:
        targets = [" ".join(map(str, n.get("target", []))) for n in v.get("nodes", [])[:4]]
        lines.append(
            f"- {v['id']} ({v.get('impact')}): {v.get('help')} [{len(v.get('nodes', []))} "
            f"element(s): {', '.join(targets)}] {v.get('helpUrl', '')}"
        )
    assert not bad, "accessibility violations:\n" + "\n".join(lines)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
