"""The API's routes over the in-memory publisher: the exact records each write publishes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from typing import Any
from unittest.mock import patch

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.server import AlwaysReady, Api
from api.sessions import TokenMetaLookup
from core.publish import ListPublisher, Message, PublishFailed
from core.settings import ChainSettings, Settings
from schemas.wallet import wallet_id_for, wallet_monitor_id
from streams.deliveryjob import delivery_job, log_record
from streams.monitorlist import CHUNK, stored_chunk
from streams.watchlist import monitor_digest
from tests.unit.test_hd import account_xpub
from views.deliveries import DeliveriesView
from views.monitors import MonitorsView
from views.wallets import WalletsView

HOOK = "http://127.0.0.1:9/hook"
TOKEN = "0x" + "cc" * 20
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Loopback(ListPublisher):
    """The twin, plus what the broker and the workers would do with each record: it is
    folded into the views at once, a monitor is reported applied, and an address request
    is answered with the next index."""

    def __init__(self, s: Settings, monitors: MonitorsView, wallets: WalletsView) -> None:
        super().__init__()
        self.s, self.monitors, self.wallets = s, monitors, wallets

    async def publish(self, messages: Iterable[Message]) -> None:
        batch = list(messages)
        await super().publish(batch)
        for m in batch:
            self._fold(m)

    def _fold(self, m: Message) -> None:
        ts = int(time.time() * 1000)
        if m.topic in ("monitors", "monitors.addresses"):
            self.monitors.apply(self.s.topic(m.topic), m.key, m.value, ts)
            record = orjson.loads(m.value) if m.value is not None else None
            if record is not None and m.topic == "monitors.addresses":
                record = stored_chunk(record)  # the worker acknowledges it without its base
            applied = orjson.dumps({"digest": monitor_digest(record)})
            self.monitors.apply(self.s.topic("monitors.applied"), m.key, applied, ts)
        elif m.topic == "wallets.requests":
            req = orjson.loads(m.value or b"{}")
            index = sum(1 for w, _u in self.wallets.assignments if w == req["wallet_id"])
            assignment = {
                "wallet_id": req["wallet_id"],
                "user_ref": req["user_ref"],
                "address": "0x" + f"{index + 1:040x}",
                "index": index,
                "path": f"m/44'/60'/0'/0/{index}",
            }
            topic = self.s.topic("wallets.addresses")
            self.wallets.apply(topic, m.key, orjson.dumps(assignment), ts)
        elif m.topic in WalletsView.TOPICS:
            self.wallets.apply(self.s.topic(m.topic), m.key, m.value, ts)


def settings(rpc_url: str = "http://127.0.0.1:1") -> Settings:
    return Settings(
        allow_loopback_webhooks=True,
        broker="kafka://127.0.0.1:1",
        auth={"enabled": False},
        chains=[{"name": "local", "chain_id": 31337, "rpc_urls": [rpc_url]}],
        wallet_assign_timeout_s=2.0,
    )


class Harness:
    """An API over empty views (not following any topic) and the loopback publisher."""

    def __init__(self, s: Settings) -> None:
        self.s = s
        self.monitors = MonitorsView(s)
        self.wallets = WalletsView(s)
        self.deliveries = DeliveriesView(s)
        self.publisher = Loopback(s, self.monitors, self.wallets)
        self.api = Api(
            s,
            self.monitors,
            self.publisher,
            AlwaysReady(),
            wallets=self.wallets,
            deliveries=self.deliveries,
        )


async def register(client: TestClient[Any, Any], account: int) -> dict[str, Any]:
    """A wallet of the test mnemonic's account, registered through the API."""
    body = {"chain": "local", "xpub": account_xpub(account=account)}
    out: dict[str, Any] = await (await client.post("/v1/wallets", json=body)).json()
    return out


@pytest.fixture
async def h() -> AsyncIterator[tuple[Harness, TestClient[Any, Any]]]:
    harness = Harness(settings())
    async with TestClient(TestServer(harness.api.app())) as client:
        yield harness, client


async def test_create_monitor_publishes_the_monitor_it_answers(
    h: tuple[Harness, TestClient[Any, Any]],
) -> None:
    harness, client = h
    resp = await client.post(
        "/v1/monitors", json={"id": "mon_x", "chain": "local", "webhook": {"url": HOOK}}
    )
    assert resp.status == 201, await resp.text()
    body = await resp.read()
    assert harness.publisher.sent == [Message("monitors", b"mon_x", body)]
    monitor = orjson.loads(body)
    assert monitor["webhook"]["url"] == HOOK and monitor["webhook"]["secret"]
    again = await client.post("/v1/monitors", json={"id": "mon_x", "chain": "local"})
    assert again.status == 409 and len(harness.publisher.sent) == 1


async def test_a_long_list_goes_in_chunks_before_its_record_and_reads_back_whole(
    h: tuple[Harness, TestClient[Any, Any]],
) -> None:
    harness, client = h
    many = [f"0x{i:040x}" for i in range(1, CHUNK + 1_001)]
    body = {"id": "mon_l", "chain": "local", "addresses": many, "webhook": {"url": HOOK}}
    resp = await client.post("/v1/monitors", json=body)
    assert resp.status == 201, await resp.text()
    chunk, record = harness.publisher.sent
    assert (chunk.topic, chunk.key, record.topic) == ("monitors.addresses", b"mon_l:0", "monitors")
    assert orjson.loads(chunk.value or b"") == {
        "monitor_id": "mon_l",
        "chunk": 0,
        "chain": "local",
        "addresses": many[CHUNK:],
        "base": "none",  # written only where there is no such chunk yet
    }
    assert orjson.loads(record.value or b"")["addresses"] == many[:CHUNK]
    assert (await resp.json())["addresses"] == many
    more = [f"0x{'ab' * 19}{i:02x}" for i in range(5)]
    resp = await client.patch(
        "/v1/monitors/mon_l",
        json={"add_addresses": [*more, many[1]], "remove_addresses": [many[0]]},
    )
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["addresses"] == many[1:] + more and "address_count" not in answer
    sent = harness.publisher.sent[2:]
    assert [(m.topic, m.key) for m in sent] == [
        ("monitors.addresses", b"mon_l:0"),
        ("monitors", b"mon_l"),
    ]
    assert orjson.loads(sent[1].value or b"")["addresses"] == many[1:CHUNK]
    pages: list[str] = []
    cursor = ""
    while True:
        resp = await client.get(f"/v1/monitors/mon_l/addresses?limit=1000&cursor={cursor}")
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        pages += page["items"]
        if page["cursor"] is None:
            break
        cursor = page["cursor"]
    assert pages == sorted(many[1:] + more)
    assert (await client.get("/v1/monitors/mon_none/addresses")).status == 404
    with patch("views.monitors.INLINE_ADDRESSES", 100):
        got = await (await client.get("/v1/monitors/mon_l")).json()
    assert got["addresses"] == many[1:CHUNK] and got["addresses_truncated"] is True
    assert got["address_count"] == len(many) - 1 + len(more)
    assert (await client.delete("/v1/monitors/mon_l")).status == 204
    assert [(m.topic, m.key, m.value) for m in harness.publisher.sent[4:]] == [
        ("monitors", b"mon_l", None),
        ("monitors.addresses", b"mon_l:0", None),
    ]
    assert "mon_l" not in harness.monitors.lists


async def test_a_broker_that_refuses_the_write_leaves_nothing_behind(
    h: tuple[Harness, TestClient[Any, Any]],
) -> None:
    harness, client = h
    harness.publisher.fail = PublishFailed("broker away")
    body = {"id": "mon_r", "chain": "local", "webhook": {"url": HOOK, "secret": SECRET}}
    resp = await client.post("/v1/monitors", json=body)
    assert resp.status == 500
    text = await resp.text()
    assert orjson.loads(text)["error"]["code"] == "internal"
    assert SECRET not in text and "broker away" not in text
    assert harness.publisher.sent == [] and "mon_r" not in harness.monitors.monitors
    harness.publisher.fail = None  # the broker is back: the same request goes through
    assert (await client.post("/v1/monitors", json=body)).status == 201
    assert [m.key for m in harness.publisher.sent] == [b"mon_r"]


async def test_create_wallet_publishes_its_monitor_then_the_wallet(
    h: tuple[Harness, TestClient[Any, Any]],
) -> None:
    harness, client = h
    xpub = account_xpub(account=2)
    resp = await client.post("/v1/wallets", json={"chain": "local", "xpub": xpub, "label": "hot"})
    assert resp.status == 201, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    wid = wallet_id_for("local", xpub)
    mid = wallet_monitor_id(wid)
    monitor, wallet = harness.publisher.sent
    assert monitor.topic == "monitors" and monitor.key == mid.encode()
    assert orjson.loads(monitor.value or b"") == harness.monitors.monitors[mid]
    assert orjson.loads(monitor.value or b"")["wallet_ids"] == [wid]
    record = {"id": wid, "chain": "local", "xpub": xpub, "label": "hot"}
    assert wallet == Message("wallets", wid.encode(), orjson.dumps(record))
    out = await resp.json()
    assert out["id"] == wid and out["monitor_id"] == mid and out["account"] == 2

    same = await client.post("/v1/wallets", json={"chain": "local", "xpub": xpub})
    assert same.status == 200 and len(harness.publisher.sent) == 2  # idempotent


async def test_create_address_asks_the_allocator_once(
    h: tuple[Harness, TestClient[Any, Any]],
) -> None:
    harness, client = h
    w = await register(client, 3)
    wid, xpub = w["id"], w["xpub"]
    sent = len(harness.publisher.sent)
    for _ in range(2):
        resp = await client.post(f"/v1/wallets/{wid}/addresses", json={"user_ref": "alice"})
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["index"] == 0
    (request,) = harness.publisher.sent[sent:]
    assert request.topic == "wallets.requests" and request.key == wid.encode()
    assert request.partition is not None
    assert orjson.loads(request.value or b"") == {
        "wallet_id": wid,
        "user_ref": "alice",
        "chain": "local",
        "xpub": xpub,
    }


async def test_redeliver_publishes_a_job_and_its_log_record(
    h: tuple[Harness, TestClient[Any, Any]],
) -> None:
    harness, client = h
    monitor: dict[str, Any] = {
        "id": "mon_r",
        "webhook": {"url": HOOK, "secret": "whsec_" + "A" * 32},
    }
    harness.monitors.monitors["mon_r"] = monitor
    event = {"id": "evt_" + "ab" * 20, "type": "transfer.confirmed", "monitor_id": "mon_r"}
    job = delivery_job(event, {"id": "mon_r", "webhook": monitor["webhook"], "retry": None})  # type: ignore[typeddict-item]
    assert job is not None
    harness.deliveries.apply_record(log_record(job, "failed"))

    resp = await client.post(f"/v1/deliveries/{job['id']}/redeliver")
    assert resp.status == 202, await resp.text()
    rec = await resp.read()
    new, log = harness.publisher.sent
    assert log == Message("deliveries.log", orjson.loads(rec)["id"].encode(), rec)
    again = orjson.loads(new.value or b"")
    assert new.topic == "deliveries" and new.key == b"mon_r"
    assert again["id"] == orjson.loads(rec)["id"] != job["id"]
    assert again["redelivery_of"] == job["id"] and again["event"] == event
    assert again["url"] == HOOK and again["secrets"] == [monitor["webhook"]["secret"]]
    assert harness.deliveries.get(again["id"]) == orjson.loads(rec)  # readable at once


async def test_reads_publish_nothing(h: tuple[Harness, TestClient[Any, Any]]) -> None:
    harness, client = h
    for path in ("/v1/monitors", "/v1/wallets", "/v1/balances", "/v1/deliveries", "/healthz"):
        assert (await client.get(path)).status == 200, path
    assert (await client.get("/v1/sessions/ses_nope")).status == 404
    assert (await client.get("/checkout/ses_nope")).status == 404
    assert harness.publisher.sent == []


def abi_string(s: bytes) -> str:
    padded = s + b"\0" * (-len(s) % 32)
    return "0x" + (32).to_bytes(32, "big").hex() + len(s).to_bytes(32, "big").hex() + padded.hex()


async def fake_node(answers: dict[str, str | None]) -> TestServer:
    """A JSON-RPC node answering eth_call by the call's selector (None: an error)."""

    async def rpc(request: web.Request) -> web.Response:
        out = []
        for call in await request.json():
            result = answers.get(call["params"][0]["data"])
            if result is None:
                out.append({"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32000}})
            else:
                out.append({"jsonrpc": "2.0", "id": call["id"], "result": result})
        return web.json_response(out)

    app = web.Application()
    app.router.add_post("/", rpc)
    server = TestServer(app)
    await server.start_server()
    return server


@pytest.mark.parametrize(
    ("answers", "want"),
    [
        ({"0x95d89b41": abi_string(b"TST"), "0x313ce567": "0x" + "06".rjust(64, "0")}, ("TST", 6)),
        ({"0x95d89b41": "0x" + b"MKR".ljust(32, b"\0").hex()}, ("MKR", None)),
        ({"0x313ce567": "0x" + "78".rjust(64, "0")}, (None, None)),  # 120: past the bound
        ({}, (None, None)),
    ],
)
async def test_token_lookup_decodes_as_the_follower_does(
    answers: dict[str, str | None], want: tuple[str | None, int | None]
) -> None:
    server = await fake_node(answers)
    chain = ChainSettings(name="local", chain_id=31337, rpc_urls=[str(server.make_url("/"))])
    tokens = TokenMetaLookup()
    try:
        assert await tokens(chain, TOKEN) == want
        assert await tokens(chain, TOKEN) == want  # the same client, its session reused
    finally:
        await tokens.close()
        await server.close()


async def test_token_lookup_gives_none_when_no_node_answers() -> None:
    chain = ChainSettings(name="local", chain_id=31337, rpc_urls=["http://127.0.0.1:1/"])
    tokens = TokenMetaLookup()
    try:
        assert await tokens(chain, TOKEN) == (None, None)
    finally:
        await tokens.close()


async def test_erc20_session_reads_the_token_from_the_node() -> None:
    server = await fake_node(
        {"0x95d89b41": abi_string(b"TST"), "0x313ce567": "0x" + "06".rjust(64, "0")}
    )
    harness = Harness(settings(str(server.make_url("/"))))
    try:
        async with TestClient(TestServer(harness.api.app())) as client:
            xpub = account_xpub(account=4)
            w = await (
                await client.post("/v1/wallets", json={"chain": "local", "xpub": xpub})
            ).json()
            body = {"wallet_id": w["id"], "user_ref": "bob", "asset": TOKEN, "amount": "5"}
            resp = await client.post("/v1/sessions", json=body)
            assert resp.status == 201, await resp.text()
            out = await resp.json()
            assert out["asset"] == {
                "kind": "erc20",
                "contract": TOKEN,
                "symbol": "TST",
                "decimals": 6,
                "token_id": None,
            }
            assert out["status"] == "waiting" and out["checkout_url"].endswith(out["id"])
            session = harness.publisher.sent[-1]
            assert session.topic == "sessions" and session.key == out["id"].encode()
            assert orjson.loads(session.value or b"") == harness.wallets.sessions[out["id"]]
            status = await client.get(f"/checkout/{out['id']}/status")
            assert status.status == 200 and "user_ref" not in await status.json()
    finally:
        await server.close()
