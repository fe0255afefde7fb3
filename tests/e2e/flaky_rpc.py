"""A JSON-RPC proxy that misbehaves on purpose: drops, delays, errors, nulls, garbage, lies."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from typing import Any

import aiohttp
from aiohttp import web


class FlakyRpc:
    """Forwards to `upstream`, but a fraction `p` of requests gets one of the faults below."""

    FAULTS = ("drop", "http_502", "slow", "null_block", "garbage", "rpc_error", "head_ahead")

    def __init__(
        self, upstream: str, port: int, p: float = 0.35, seed: int = 7, slow_s: float = 1.5
    ) -> None:
        self.upstream = upstream
        self.port = port
        self.p = p
        self.slow_s = slow_s
        self.rng = random.Random(seed)
        self.counts: dict[str, int] = {f: 0 for f in (*self.FAULTS, "ok")}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fault = self.rng.choice(self.FAULTS) if self.rng.random() < self.p else "ok"
        self.counts[fault] += 1
        if fault == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        if fault == "http_502":
            return web.Response(status=502, text="bad gateway")
        if fault == "garbage":
            return web.Response(status=200, text="<html>not json", content_type="text/html")
        if fault == "slow":
            await asyncio.sleep(self.slow_s)
        async with (
            aiohttp.ClientSession() as s,
            s.post(self.upstream, data=body, headers={"content-type": "application/json"}) as r,
        ):
            answer: Any = json.loads(await r.read())
        items = answer if isinstance(answer, list) else [answer]
        calls = json.loads(body)
        calls = calls if isinstance(calls, list) else [calls]
        methods = {c.get("id"): c.get("method") for c in calls}
        for item in items:
            method = methods.get(item.get("id"))
            if fault == "null_block" and method in ("eth_getBlockByNumber", "eth_getBlockReceipts"):
                item["result"] = None
            elif fault == "rpc_error":
                item.pop("result", None)
                item["error"] = {"code": -32000, "message": "header not found"}
            elif fault == "head_ahead" and method == "eth_blockNumber":
                item["result"] = hex(int(item["result"], 16) + 3)  # announces blocks it lacks
        return web.json_response(answer)

    def start(self) -> FlakyRpc:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post("/", self._handle)
            self._runner = web.AppRunner(app)
            loop.run_until_complete(self._runner.setup())
            loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            fut.result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
