"""Delivery pieces without a broker: tiers, jobs, rotation, log records, the log view,
handlers, and the SSRF guards (resolver, IP literals, the API's refusals)."""

from __future__ import annotations

import sys
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka.partitioner import DefaultPartitioner
from standardwebhooks import Webhook

from api.server import AlwaysReady, Api
from core.publish import ListPublisher
from core.settings import Settings
from schemas.delivery import DeadLetter, Delivery
from streams.deliveryjob import (
    dead_letter,
    delivery_job,
    job_partition,
    log_record,
    pack_jobs,
    parse_jobs,
    redelivery_job,
    signing_secrets,
)
from streams.netpolicy import address_refusal
from streams.retry import TIERS_S, route
from streams.signing import webhook_headers
from transport.handlers import handler_refusal, python_allowed, run_command, run_python
from transport.httpclient import Resolver
from transport.target import parse_target
from transport.webhooks import ForbiddenAddress, WebhookSender
from views.deliveries import DeliveriesView
from views.monitors import MonitorsView

SECRET_A = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET_B = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
EVENT: dict[str, Any] = {
    "id": "evt_" + "ab" * 20,
    "type": "transfer.confirmed",
    "monitor_id": "mon_x",
    "chain": "local",
    "chain_id": 31337,
    "tx_hash": "0x" + "11" * 32,
    "log_index": None,
    "block_number": 5,
    "block_hash": "0x" + "22" * 32,
    "from": "0x" + "33" * 20,
    "to": "0x" + "44" * 20,
    "direction": "in",
    "asset": {
        "kind": "native",
        "contract": None,
        "symbol": "ETH",
        "decimals": 18,
        "token_id": None,
    },
    "amount": "1",
    "confirmations": 1,
    "required_confirmations": 1,
    "credited": True,
    "wallet_id": None,
    "user_ref": None,
    "occurred_at": "2026-11-21T12:00:00Z",
}


def cfg(**extra: Any) -> Any:
    return {"id": "mon_x", "webhook": None, "retry": None, **extra}


# Tiers


def test_route_uses_the_largest_tier_not_above_the_wait() -> None:
    assert TIERS_S == (1, 5, 30, 300, 3600)
    assert route(300) == (300, 300.0)
    assert route(86_400) == (3600, 3600.0)
    assert route(7) == (5, 5.0)
    assert route(0.4) == (1, 0.4)  # below the smallest tier: hold only what is left
    assert route(-3) == (1, 0.0)


def test_a_wait_is_served_by_a_chain_of_tiers_that_adds_up() -> None:
    for wait in (1, 2.5, 6, 59, 300, 301, 86_400):
        left, hops = float(wait), 0
        while left > 0.05:
            _, hold = route(left)
            left -= hold
            hops += 1
        assert abs(left) < 1e-9 and hops <= 30


# Jobs and rotation


def test_jobs_for_webhooks_handlers_and_neither() -> None:
    hook = delivery_job(EVENT, cfg(webhook={"url": "https://x.example/h", "secret": SECRET_A}))
    assert hook is not None and hook["kind"] == "webhook" and hook["secrets"] == [SECRET_A]
    assert hook["id"] == "dlv_" + "ab" * 20
    py = delivery_job(EVENT, cfg(handler={"kind": "python", "target": "a.b:c"}))
    assert py is not None and py["kind"] == "python" and py["url"] == "python:a.b:c"
    assert "secrets" not in py
    cmd = delivery_job(EVENT, cfg(handler={"kind": "command", "argv": ["/bin/true"]}))
    assert cmd is not None and cmd["url"] == "command:/bin/true"
    assert delivery_job(EVENT, cfg()) is None


def test_jobs_are_packed_per_partition_as_kafka_would_partition_their_monitor() -> None:
    jobs = []
    for i in range(60):
        job = delivery_job(
            {**EVENT, "id": f"evt_{i:040x}"},
            cfg(id=f"mon_{i % 7}", webhook={"url": "https://x.example/h", "secret": SECRET_A}),
        )
        assert job is not None
        jobs.append((job["monitor_id"], orjson.dumps(job)))
    messages = pack_jobs(jobs, 4)
    assert len(messages) <= 4  # small jobs: one message per partition
    seen: list[str] = []
    for p, value in messages:
        for job in parse_jobs([value]):
            monitor = job["monitor_id"]
            key = monitor.encode()
            assert p == job_partition(monitor, 4) == DefaultPartitioner()(key, [0, 1, 2, 3], [])
            seen.append(job["event"]["id"])
    assert sorted(seen) == sorted(f"evt_{i:040x}" for i in range(60))
    for p in range(4):  # the order of each partition is the order they came in
        ids = [
            j["event"]["id"] for v in (v for q, v in messages if q == p) for j in parse_jobs([v])
        ]
        assert ids == sorted(ids)
    big = pack_jobs([("mon_0", b"{" + b" " * 600_000 + b"}")] * 3, 4)
    assert len(big) == 3  # past the 1 MB cap a partition's jobs take more messages


def test_parse_jobs_reads_single_jobs_and_arrays_and_skips_what_is_not_a_job() -> None:
    job = {"id": "dlv_1", "event": {"id": "evt_1"}, "url": "https://x.example/h"}
    one = orjson.dumps(job)
    values = [one, orjson.dumps([job, {"no": "event"}, job]), b"{not json", b"[1, 2]"]
    assert parse_jobs(values) == [job, job, job]


def test_rotation_signs_with_both_until_the_old_secret_expires() -> None:
    webhook = {
        "url": "https://x.example/h",
        "secret": SECRET_B,
        "previous_secret": SECRET_A,
        "previous_secret_expires_at": "2030-01-01T00:00:00Z",
    }
    job = delivery_job(EVENT, cfg(webhook=webhook))
    assert job is not None
    before, after = 1_800_000_000.0, 1_900_000_000.0
    assert signing_secrets(job, before) == [SECRET_B, SECRET_A]
    assert signing_secrets(job, after) == [SECRET_B]
    body = b'{"a":1}'
    headers = webhook_headers(signing_secrets(job, before), EVENT["id"], 1_800_000_000, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    # The library checks the timestamp against its clock: sign for now.
    import time

    now = int(time.time())
    headers = webhook_headers([SECRET_B, SECRET_A], EVENT["id"], now, body)
    assert Webhook(SECRET_A).verify(body, headers) == {"a": 1}
    assert Webhook(SECRET_B).verify(body, headers) == {"a": 1}


def test_log_record_and_dead_letter_match_their_schemas_and_hold_no_secret() -> None:
    job = delivery_job(EVENT, cfg(webhook={"url": "https://x.example/h", "secret": SECRET_A}))
    assert job is not None
    job["attempts"] = [
        {
            "at": "2026-11-21T12:00:00Z",
            "status_code": 500,
            "latency_ms": 3,
            "error": "HTTP 500",
            "response": "no",
        }
    ]
    job["first_at"] = 1_795_262_400.5
    job["next_attempt_at"] = 1_795_262_700.5
    rec = log_record(job, "pending", 1_795_262_400.6)
    assert rec["next_attempt_at"] == "2026-11-21T12:05:00Z"
    Delivery.model_validate(rec)
    assert SECRET_A not in str(rec)
    dl = dead_letter(job)
    DeadLetter.model_validate(dl)
    assert dl["first_at"] == "2026-11-21T12:00:00Z" and SECRET_A not in str(dl)
    assert log_record(job, "failed")["next_attempt_at"] is None


def test_redelivery_is_a_new_delivery_of_the_same_event() -> None:
    job = delivery_job(EVENT, cfg(webhook={"url": "https://x.example/h", "secret": SECRET_A}))
    assert job is not None
    rec = log_record(job, "failed")
    mon = {"id": "mon_x", "webhook": {"url": "https://y.example/h", "secret": SECRET_B}}
    again = redelivery_job(rec, mon)
    assert again["id"] != job["id"] and again["redelivery_of"] == job["id"]
    assert again["event"]["id"] == EVENT["id"] and again["url"] == "https://y.example/h"
    assert again["attempts"] == [] and again["secrets"] == [SECRET_B]
    with pytest.raises(ValueError):
        redelivery_job(rec, None)


# The log view


def test_view_pages_newest_first_and_forgets_the_oldest_past_its_bound() -> None:
    s = Settings(delivery={"log_max": 100})
    v = DeliveriesView(s)
    for i in range(150):
        v.apply_record({"id": f"dlv_{i:04x}", "monitor_id": f"mon_{i % 2}", "status": "pending"})
    v.apply_record({"id": "dlv_0095", "monitor_id": "mon_1", "status": "delivered"})  # an update
    assert len(v.records) == 100 and "dlv_0031" not in v.records
    items, cursor = v.page("mon_1", None, 20, None)
    assert [r["id"] for r in items][:2] == ["dlv_0095", "dlv_0093"]
    seen = [r["id"] for r in items]
    while cursor is not None:
        items, cursor = v.page("mon_1", None, 20, cursor)
        seen += [r["id"] for r in items]
    assert len(seen) == len(set(seen)) == 50
    assert [r["id"] for r in v.page(None, "delivered", 10, None)[0]] == ["dlv_0095"]


# Handlers


def test_handler_allow_lists() -> None:
    assert python_allowed("hooks.mine:f", ["hooks"]) and python_allowed("hooks:f", ["hooks"])
    assert not python_allowed("hooksx.y:f", ["hooks"])
    assert handler_refusal({"kind": "python", "target": "os:system"}, ["hooks"], []) is not None
    assert handler_refusal({"kind": "command", "argv": ["/bin/sh"]}, [], ["/bin/true"])
    assert handler_refusal({"kind": "command", "argv": ["/bin/true"]}, [], ["/bin/true"]) is None


async def test_command_handler_gets_the_event_and_its_exit_status_decides() -> None:
    ok = await run_command(
        [sys.executable, "-c", "import os; print(os.environ['BLOCKHOOK_EVENT_TYPE'])"],
        EVENT,
        30,
    )
    assert ok.ok and ok.response is not None and ok.response.strip() == "transfer.confirmed"
    bad = await run_command([sys.executable, "-c", "import sys; sys.exit(4)"], EVENT, 30)
    assert not bad.ok and bad.error == "exit status 4"
    slow = await run_command([sys.executable, "-c", "import time; time.sleep(30)"], EVENT, 0.5)
    assert not slow.ok and "timeout" in str(slow.error)
    missing = await run_command(["/nonexistent/prog"], EVENT, 5)
    assert not missing.ok and "cannot start" in str(missing.error)


def sync_cb(event: dict[str, Any]) -> str:
    return "got " + event["type"]


async def async_cb(event: dict[str, Any]) -> None:
    raise RuntimeError("receiver down")


async def test_python_handler_sync_async_and_failing() -> None:
    ok = await run_python("tests.unit.test_delivery:sync_cb", EVENT, 5)
    assert ok.ok and ok.response == "got transfer.confirmed"
    bad = await run_python("tests.unit.test_delivery:async_cb", EVENT, 5)
    assert not bad.ok and bad.error == "RuntimeError: receiver down"
    gone = await run_python("tests.unit.nope:f", EVENT, 5)
    assert not gone.ok and "ModuleNotFoundError" in str(gone.error)


# SSRF


@pytest.mark.parametrize(
    "ip", ["169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16"]
)
def test_metadata_addresses_refused_even_when_private_is_allowed(ip: str) -> None:
    assert "metadata" in str(address_refusal(ip, allow_loopback=True, allow_private=True))


def test_carrier_grade_nat_counts_as_private() -> None:
    assert address_refusal("100.64.1.1", False, False) == "private address"
    assert address_refusal("100.64.1.1", False, True) is None


class StubResolver(Resolver):
    """Answers every name with the given addresses (a name that resolves to a private one)."""

    def __init__(self, *ips: str) -> None:
        super().__init__(allow_loopback=False, allow_private=False)
        self.ips = list(ips)

    async def lookup(self, host: str, port: int) -> list[str]:
        return self.ips


@pytest.mark.parametrize("ip", ["10.0.0.5", "127.0.0.1", "169.254.169.254", "192.168.1.2"])
async def test_resolver_refuses_names_resolving_to_forbidden_addresses(ip: str) -> None:
    target = parse_target("https://innocent.example/hook")
    with pytest.raises(ForbiddenAddress):
        await StubResolver(ip).addresses(target)
    with pytest.raises(ForbiddenAddress):  # one forbidden address among public ones is enough
        await StubResolver("93.184.216.34", ip).addresses(target)
    assert await StubResolver("93.184.216.34").addresses(target) == ["93.184.216.34"]


async def test_sender_refuses_a_name_resolving_to_a_private_address_without_connecting() -> None:
    sender = WebhookSender(
        timeout_s=2, allow_loopback=False, allow_private=False, resolver=StubResolver("10.1.2.3")
    )
    try:
        a = await sender.send("http://innocent.example/h", [SECRET_A], EVENT["id"], b"{}")
        assert not a.ok and a.error == "refused: innocent.example resolves to 10.1.2.3: " + (
            "private address"
        ), a
    finally:
        await sender.close()


async def test_sender_refuses_ip_literals_without_connecting() -> None:
    sender = WebhookSender(timeout_s=2, allow_loopback=False, allow_private=False)
    try:
        for url in ("http://127.0.0.1:9/h", "http://10.0.0.1/h", "http://[::1]/h") * 2:
            a = await sender.send(url, [SECRET_A], EVENT["id"], b"{}")  # twice: cached too
            assert not a.ok and str(a.error).startswith("refused:"), a
    finally:
        await sender.close()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/h", "http://localhost/h", "http://10.2.3.4/h"]
)
async def test_api_refuses_loopback_and_private_webhooks_when_not_allowed(url: str) -> None:
    s = Settings(
        allow_loopback_webhooks=False,
        broker="kafka://127.0.0.1:1",
        auth={"enabled": False},
        chains=[{"name": "local", "chain_id": 31337, "rpc_urls": ["http://127.0.0.1:1"]}],
    )
    api = Api(s, MonitorsView(s), publisher=ListPublisher(), health=AlwaysReady())
    async with TestClient(TestServer(api.app())) as client:
        resp = await client.post("/v1/monitors", json={"chain": "local", "webhook": {"url": url}})
        body = await resp.json()
        assert resp.status == 422, body
        assert body["error"]["code"] == "webhook_url_forbidden"
