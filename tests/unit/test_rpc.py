"""The JSON-RPC client against real local HTTP servers: big bodies, fail-over, bad answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from chain.rpc import RpcClient
from core import metrics
from core.errors import RpcError

Handler = Callable[[web.Request], web.StreamResponse]


@pytest.fixture()
async def serve() -> AsyncIterator[Callable[[Handler], object]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        async def h(request: web.Request) -> web.StreamResponse:
            return await handler(request)  # type: ignore[misc, no-any-return]

        app = web.Application()
        app.router.add_post("/", h)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    yield start  # type: ignore[misc]
    for r in runners:
        await r.cleanup()


def echo_results(result_for: Callable[[dict[str, object]], object]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        calls = json.loads(await request.read())
        answer = [{"jsonrpc": "2.0", "id": c["id"], "result": result_for(c)} for c in calls]
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        body = json.dumps(answer).encode()
        for i in range(0, len(body), 1000):  # many small chunks, as a busy node sends them
            await resp.write(body[i : i + 1000])
        await resp.write_eof()
        return resp

    return handler  # type: ignore[return-value]


async def test_large_chunked_answer_is_read_whole(serve: Callable[[Handler], object]) -> None:
    url = await serve(echo_results(lambda c: "x" * 200_000))  # type: ignore[misc]
    client = RpcClient([url])
    try:
        out = await client.batch([("m", []), ("m", [])])
    finally:
        await client.close()
    assert out == ["x" * 200_000] * 2


async def test_fails_over_to_the_next_url(serve: Callable[[Handler], object]) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>oops", status=200)

    bad = await serve(broken)  # type: ignore[misc]
    good = await serve(echo_results(lambda c: c["method"]))  # type: ignore[misc]
    client = RpcClient(["http://127.0.0.1:1", bad, good], backoff_s=0.01)
    try:
        assert await client.call("eth_blockNumber") == "eth_blockNumber"
    finally:
        await client.close()


@pytest.mark.parametrize(
    "answer",
    [
        {"not": "a list"},
        [{"jsonrpc": "2.0", "id": 999, "result": 1}],
        [{"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "no"}}],
        ["garbage"],
    ],
)
async def test_bad_answers_raise_rpc_error(
    serve: Callable[[Handler], object], answer: object
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(answer)

    url = await serve(handler)  # type: ignore[misc]
    client = RpcClient([url], attempts=1, backoff_s=0.01)
    try:
        with pytest.raises(RpcError):
            await client.batch([("m", [])])
    finally:
        await client.close()


async def test_failures_name_the_endpoint_never_the_url_with_its_key(
    serve: Callable[[Handler], object], caplog: pytest.LogCaptureFixture
) -> None:
    async def down(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503)

    base = await serve(down)  # type: ignore[misc]
    secret_url = f"{base}/v3/0123456789abcdef-key?apikey=zzz-secret"
    unreachable = "http://user:pw-secret@127.0.0.1:1/v2/also-secret"
    client = RpcClient([secret_url, unreachable], attempts=1, backoff_s=0.01, chain="unit-rpc")
    before = {
        name: metrics.RPC_ERRORS.labels(chain="unit-rpc", endpoint=name)._value.get()
        for name in client.names.values()
    }
    try:
        with caplog.at_level("WARNING"), pytest.raises(RpcError) as err:
            await client.call("eth_blockNumber")
    finally:
        await client.close()
    text = str(err.value) + caplog.text
    for secret in ("0123456789abcdef-key", "zzz-secret", "pw-secret", "also-secret", "user"):
        assert secret not in text
    assert base.split("/")[2] in text and "127.0.0.1:1" in text
    for name in client.names.values():
        after = metrics.RPC_ERRORS.labels(chain="unit-rpc", endpoint=name)._value.get()
        assert after == before[name] + 1, name
