"""Delivery end to end on real parts: retry schedule, dead letters, the delivery log,
redelivery, secret rotation, handlers, SSRF refusals, isolation, kill -9 mid-retry."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from standardwebhooks import Webhook

from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.conftest import ARTIFACTS, api
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e

FUNDER = ct.ANVIL_ACCOUNTS[0]
OUT = ARTIFACTS / "delivery-handlers"

# Handlers run on the worker only when the operator lists them. The session stack's worker
# inherits this process's environment, and collection happens before any fixture starts it.
os.environ.setdefault("BLOCKHOOK_DELIVERY__PYTHON_HANDLERS", '["tests.e2e"]')
os.environ.setdefault(
    "BLOCKHOOK_DELIVERY__COMMAND_HANDLERS", orjson.dumps([sys.executable]).decode()
)
# A short in-memory queue per retry tier, so the tests pause and resume its partitions often.
os.environ.setdefault("BLOCKHOOK_DELIVERY__RETRY_QUEUE", "100")


def fresh_address(n: int) -> str:
    return "0x" + f"{int(time.time() * 1000) % 10**12:012x}{n:04x}".rjust(40, "c")


def monitor(stack: DevStack, address: str, **fields: Any) -> dict[str, Any]:
    body = {"chain": "local", "addresses": [address], "confirmations": 1, **fields}
    status, m = api(stack, "POST", "/v1/monitors", body)
    assert status == 201, m
    return m


def wait(pred: Callable[[], Any], timeout_s: float = 90.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def deliveries(stack: DevStack, monitor_id: str) -> list[dict[str, Any]]:
    status, body = api(stack, "GET", f"/v1/deliveries?monitor_id={monitor_id}")
    assert status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


def final_delivery(stack: DevStack, monitor_id: str, status: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        for d in deliveries(stack, monitor_id):
            if d["status"] == status:
                return d
        return None

    found: dict[str, Any] = wait(done, what=f"a {status} delivery of {monitor_id}")
    return found


def dlq_consumer(stack: DevStack) -> AIOKafkaConsumer:
    """A group-less reader of the dead-letter topic from its beginning."""
    return AIOKafkaConsumer(
        "blockhook.deliveries.dlq",
        bootstrap_servers=f"127.0.0.1:{stack.cfg.broker_port}",
        group_id=None,
        auto_offset_reset="earliest",
    )


async def read_dlq(stack: DevStack, delivery_id: str, timeout_s: float = 60) -> dict[str, Any]:
    consumer = dlq_consumer(stack)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    rec = orjson.loads(r.value)
                    if rec["id"] == delivery_id:
                        assert r.key == rec["event"]["id"].encode()
                        return dict(rec)
        raise AssertionError(f"{delivery_id} not on the DLQ")
    finally:
        await consumer.stop()


@pytest.fixture()
def redirector() -> Iterator[str]:
    """An endpoint that answers 302 to the cloud metadata address."""

    class H(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(302)
            self.send_header("location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook"
    srv.shutdown()


def test_fails_twice_then_succeeds_on_schedule_with_one_webhook_id(
    stack: DevStack, receiver: Receiver
) -> None:
    fails = {"n": 0}

    def status_for(path: str) -> int:
        if fails["n"] < 2:
            fails["n"] += 1
            return 503
        return 200

    receiver.status_for = status_for
    watched = fresh_address(1)
    m = monitor(stack, watched, webhook={"url": receiver.url + "/s"}, retry={"delays_s": [1, 3]})
    ct.send_eth(stack.cfg.rpc_url, FUNDER, watched, 7)
    receiver.wait_for(lambda evs: len(evs) >= 3)
    d = final_delivery(stack, m["id"], "delivered")
    hits = list(receiver.received)
    assert len(hits) == 3
    ev = hits[0].event
    assert {h.headers["webhook-id"] for h in hits} == {ev["id"]} == {d["event_id"]}
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
    assert 0.9 <= gaps[0] <= 6 and 2.9 <= gaps[1] <= 8, gaps
    wh = Webhook(m["webhook"]["secret"])
    for h in hits:
        assert wh.verify(h.body, h.headers)["id"] == ev["id"]
    assert [a["status_code"] for a in d["attempts"]] == [503, 503, 200]
    assert d["attempts"][0]["error"] == "HTTP 503" and d["attempts"][2]["error"] is None
    assert all(a["at"].endswith("Z") and a["latency_ms"] >= 0 for a in d["attempts"])
    assert d["next_attempt_at"] is None and d["redelivery_of"] is None
    status, one = api(stack, "GET", f"/v1/deliveries/{d['id']}")
    assert status == 200 and one["event"]["id"] == ev["id"]


def test_never_succeeding_ends_in_the_dlq_then_redeliver(
    stack: DevStack, receiver: Receiver, redirector: str
) -> None:
    up = {"ok": False}
    receiver.status_for = lambda path: 200 if up["ok"] else 500
    watched = fresh_address(2)
    m = monitor(stack, watched, webhook={"url": receiver.url + "/d"}, retry={"delays_s": [1, 1]})
    # A redirect to the metadata address is not followed: a 3xx is a failed attempt.
    r = monitor(stack, watched, webhook={"url": redirector}, retry={"delays_s": [1]})
    ct.send_eth(stack.cfg.rpc_url, FUNDER, watched, 8)
    d = final_delivery(stack, m["id"], "failed")
    assert [a["status_code"] for a in d["attempts"]] == [500, 500, 500]
    assert d["next_attempt_at"] is None
    dlq = asyncio.run(read_dlq(stack, d["id"]))
    assert dlq["status"] == "failed" and len(dlq["attempts"]) == 3
    assert dlq["event"]["id"] == d["event_id"] and "secrets" not in dlq
    assert dlq["first_at"].endswith("Z")
    rd = final_delivery(stack, r["id"], "failed")
    assert [a["status_code"] for a in rd["attempts"]] == [302, 302]

    up["ok"] = True
    before = len(receiver.received)
    status, again = api(stack, "POST", f"/v1/deliveries/{d['id']}/redeliver")
    assert status == 202, again
    assert again["redelivery_of"] == d["id"] and again["id"] != d["id"]
    assert again["event_id"] == d["event_id"] and again["status"] == "pending"
    hit = wait(lambda: receiver.received[before:], what="the redelivery")[0]
    assert hit.headers["webhook-id"] == d["event_id"]
    done = wait(
        lambda: next(
            (
                x
                for x in deliveries(stack, m["id"])
                if x["id"] == again["id"] and x["status"] == "delivered"
            ),
            None,
        ),
        what="the redelivery logged",
    )
    assert done["redelivery_of"] == d["id"]
    status, _ = api(stack, "POST", "/v1/deliveries/dlv_00/redeliver")
    assert status == 404


def test_secret_rotation_signs_with_both(stack: DevStack, receiver: Receiver) -> None:
    watched = fresh_address(3)
    m = monitor(stack, watched, webhook={"url": receiver.url + "/r"})
    old = m["webhook"]["secret"]
    new = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    status, p = api(
        stack,
        "PATCH",
        f"/v1/monitors/{m['id']}",
        {"webhook": {"url": receiver.url + "/r", "secret": new}},
    )
    assert status == 200, p
    assert p["webhook"]["secret"] == new and p["webhook"]["previous_secret"] == old
    assert p["webhook"]["previous_secret_expires_at"].endswith("Z")
    ct.send_eth(stack.cfg.rpc_url, FUNDER, watched, 9)
    hit = wait(lambda: list(receiver.received), what="the rotated webhook")[0]
    assert len(hit.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(hit.body, hit.headers)["id"] == hit.event["id"]
    assert Webhook(old).verify(hit.body, hit.headers)["id"] == hit.event["id"]


def test_python_and_command_handlers_with_a_retried_failing_script(stack: DevStack) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    watched = fresh_address(4)
    py = monitor(
        stack, watched, handler={"kind": "python", "target": "tests.e2e.test_delivery:callback"}
    )
    script = (
        "import os, pathlib, sys\n"
        f"out = pathlib.Path({str(OUT)!r}) / ('cmd-' + os.environ['BLOCKHOOK_EVENT_TYPE'])\n"
        "tries = out.with_suffix('.tries')\n"
        "n = int(tries.read_text()) if tries.exists() else 0\n"
        "tries.write_text(str(n + 1))\n"
        "if n == 0:\n"
        "    print('not yet'); sys.exit(3)\n"
        "out.write_text(os.environ['BLOCKHOOK_EVENT'])\n"
    )
    for f in OUT.glob("cmd-*"):
        f.unlink()
    cmd = monitor(
        stack,
        watched,
        handler={"kind": "command", "argv": [sys.executable, "-c", script]},
        retry={"delays_s": [1]},
    )
    status, refused = api(
        stack,
        "POST",
        "/v1/monitors",
        {"chain": "local", "handler": {"kind": "command", "argv": ["/bin/sh", "-c", "id"]}},
    )
    assert status == 422 and refused["error"]["code"] == "handler_forbidden", refused
    ct.send_eth(stack.cfg.rpc_url, FUNDER, watched, 10)
    got = wait(lambda: (OUT / f"{py['id']}.json").exists(), what="the python callback")
    assert got
    ev = orjson.loads((OUT / f"{py['id']}.json").read_bytes())
    assert ev["type"] == "transfer.confirmed" and ev["to"] == watched
    d = final_delivery(stack, cmd["id"], "delivered")
    assert [a["error"] for a in d["attempts"]] == ["exit status 3", None]
    assert d["attempts"][0]["response"].strip() == "not yet"
    assert d["url"] == f"command:{sys.executable}"
    cmd_ev = orjson.loads((OUT / "cmd-transfer.confirmed").read_bytes())
    assert cmd_ev["monitor_id"] == cmd["id"]


def callback(event: dict[str, Any]) -> None:
    """The Python handler the test above names (runs inside the worker)."""
    (OUT / f"{event['monitor_id']}.json").write_bytes(orjson.dumps(event))


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://192.168.0.1:8080/hook",
    ],
)
def test_forbidden_webhook_addresses_are_refused(stack: DevStack, url: str) -> None:
    body = {"chain": "local", "addresses": [], "webhook": {"url": url}}
    status, err = api(stack, "POST", "/v1/monitors", body)
    assert status == 422, err
    assert err["error"]["code"] == "webhook_url_forbidden"
    assert err["error"]["field"] == "webhook.url"


def test_dead_and_hanging_endpoints_do_not_delay_a_healthy_one(
    stack: DevStack, receiver: Receiver
) -> None:
    def status_for(path: str) -> int:
        if path == "/hang":
            time.sleep(15)  # past the worker's 10 s timeout
        return 200

    receiver.status_for = status_for
    watched = fresh_address(5)
    healthy = monitor(stack, watched, webhook={"url": receiver.url + "/ok"})
    hanging = monitor(
        stack, watched, webhook={"url": receiver.url + "/hang"}, retry={"delays_s": [1]}
    )
    dead = monitor(
        stack, watched, webhook={"url": "http://127.0.0.1:9/dead"}, retry={"delays_s": [1]}
    )
    sent: dict[str, float] = {}
    for i in range(4):
        tx = ct.send_eth(stack.cfg.rpc_url, FUNDER, watched, 1000 + i)
        sent[tx] = time.time()
        time.sleep(1.5)
    receiver.wait_for(lambda evs: len(evs) >= 4, path="/ok")
    arrivals = {r.event["tx_hash"]: r.at for r in receiver.received if r.path == "/ok"}
    lags = {tx: arrivals[tx] - t for tx, t in sent.items()}
    # Each arrives about as fast as the chain and the worker allow (well under the 10 s a
    # hanging endpoint would cost if it were waited for).
    assert all(lag < 6 for lag in lags.values()), lags
    for m in (hanging, dead):
        d = final_delivery(stack, m["id"], "failed")
        assert len(d["attempts"]) == 2, d
    assert all(d["status"] == "delivered" for d in deliveries(stack, healthy["id"]))


def test_kill_9_with_retries_pending_keeps_the_schedule(
    stack: DevStack, receiver: Receiver
) -> None:
    hits: dict[str, int] = {}

    def status_for(path: str) -> int:
        return 200  # the flaky endpoint's answers are decided per event below

    receiver.status_for = status_for
    watched = fresh_address(6)
    flaky = monitor(
        stack, watched, webhook={"url": receiver.url + "/flaky"}, retry={"delays_s": [6, 6, 6]}
    )
    monitor(stack, watched, webhook={"url": receiver.url + "/steady"})

    def flaky_status(path: str) -> int:
        if path != "/flaky":
            return 200
        last = [r for r in list(receiver.received) if r.path == "/flaky"][-1]
        eid = last.event["id"]
        hits[eid] = hits.get(eid, 0) + 1
        return 503 if hits[eid] <= 2 else 200  # each event fails twice, then succeeds

    receiver.status_for = flaky_status
    rpc = stack.cfg.rpc_url
    first = ct.send_eth(rpc, FUNDER, watched, 21)
    pending = wait(
        lambda: [d for d in deliveries(stack, flaky["id"]) if d["status"] == "pending"],
        what="a pending retry",
    )[0]
    time.sleep(3.5)  # past the worker's offset commit: the retry now lives only on its tier
    killed_at = time.time()
    stack.kill_worker()
    more = [ct.send_eth(rpc, FUNDER, watched, 22 + i) for i in range(2)]
    stack.start_worker()
    stack.wait_ready()
    want = {first, *more}
    receiver.wait_for(lambda evs: {e["tx_hash"] for e in evs} >= want, path="/steady")

    def delivered() -> list[dict[str, Any]] | None:
        ds = [d for d in deliveries(stack, flaky["id"]) if d["status"] == "delivered"]
        return ds if len(ds) >= 3 else None

    done = wait(delivered, timeout_s=150, what="three delivered")
    d0 = next(d for d in done if d["id"] == pending["id"])
    codes = [a["status_code"] for a in d0["attempts"]]
    assert codes == [503, 503, 200], d0["attempts"]
    # The attempt made before the kill is still the first one: the count went on from it.
    first_at = d0["attempts"][0]["at"]
    assert first_at == pending["attempts"][0]["at"] and first_at <= iso(killed_at)
    flaky_hits = [r for r in receiver.received if r.path == "/flaky"]
    assert {r.event["tx_hash"] for r in flaky_hits} >= want
    for r in flaky_hits:
        assert r.headers["webhook-id"] == r.event["id"]


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def tier_copies(stack: DevStack, delivery_id: str) -> list[str]:
    """The retry tiers that hold (or held) a copy of this delivery's job, in order."""
    consumer = AIOKafkaConsumer(
        *[f"blockhook.deliveries.retry.{t}s" for t in (1, 5, 30, 300, 3600)],
        bootstrap_servers=f"127.0.0.1:{stack.cfg.broker_port}",
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[tuple[int, str]] = []
    try:
        while batch := await consumer.getmany(timeout_ms=1500):
            for tp, records in batch.items():
                found += [(r.timestamp, tp.topic) for r in records if delivery_id in str(r.value)]
    finally:
        await consumer.stop()
    return [topic for _, topic in sorted(found)]


def test_sigterm_while_a_retry_waits_on_its_tier_stops_at_once_and_keeps_it(
    stack: DevStack, receiver: Receiver
) -> None:
    """Faust waits for every message an agent holds before it stops (or rebalances): a tier
    that slept until its head is due would hold a worker's shutdown for up to an hour."""
    receiver.status_for = lambda path: 503 if path == "/later" else 200
    watched = fresh_address(7)
    m = monitor(stack, watched, webhook={"url": receiver.url + "/later"}, retry={"delays_s": [900]})
    ct.send_eth(stack.cfg.rpc_url, FUNDER, watched, 31)
    pending = final_delivery(stack, m["id"], "pending")
    assert len(pending["attempts"]) == 1
    time.sleep(3)  # the job is on its tier now, held by the tier's agent
    assert stack.worker is not None
    t0 = time.monotonic()
    stack.worker.terminate()
    stack.worker.wait(30)
    took = time.monotonic() - t0
    assert took < 15, f"the worker took {took:.1f}s to stop"
    tiers = asyncio.run(tier_copies(stack, pending["id"]))
    assert tiers[0].endswith(".300s") and len(tiers) >= 2, tiers  # put back before stopping
    stack.worker = None
    stack.start_worker()
    stack.wait_ready()
    again = final_delivery(stack, m["id"], "pending")
    assert again["attempts"] == pending["attempts"]  # nothing lost, nothing counted twice
    assert again["next_attempt_at"] == pending["next_attempt_at"]


def _job(i: int, monitor_id: str, url: str, retry: dict[str, Any]) -> dict[str, Any]:
    event = {
        "id": f"evt_{monitor_id}_{i:06d}",
        "type": "transfer.confirmed",
        "monitor_id": monitor_id,
        "chain": "local",
        "tx_hash": f"0x{i:064x}",
        "amount": str(i),
    }
    return {
        "id": "dlv_" + event["id"][4:],
        "event": event,
        "monitor_id": monitor_id,
        "kind": "webhook",
        "url": url,
        "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        "retry": retry,
        "attempts": [],
        "first_at": None,
        "next_attempt_at": None,
        "redelivery_of": None,
    }


async def _produce_jobs(stack: DevStack, jobs: list[dict[str, Any]]) -> None:
    from aiokafka import AIOKafkaProducer

    from streams.deliveryjob import pack_jobs

    p = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{stack.cfg.broker_port}")
    await p.start()
    try:
        packed = pack_jobs([(j["monitor_id"], orjson.dumps(j)) for j in jobs], stack.cfg.partitions)
        for partition, value in packed:
            await p.send_and_wait("blockhook.deliveries", value, partition=partition)
    finally:
        await p.stop()


def test_a_retry_backlog_past_the_stream_buffer_does_not_stop_other_deliveries(
    stack: DevStack, receiver: Receiver
) -> None:
    """A retry tier attempting a batch for a hanging endpoint (16 at a time, 10 s each) used
    to stop reading its stream; once the stream's buffer (1,024) filled, Faust's consumer
    stopped delivering to every stream of the worker, and healthy deliveries waited minutes."""
    receiver.status_for = lambda path: 200
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(4096)  # never accepts: every request hangs until the worker's timeout
    port = hang.getsockname()[1]
    n_dead = 3000
    try:
        dead = [
            _job(i, "mon_backlog_dead", f"http://127.0.0.1:{port}/hang", {"delays_s": []})
            for i in range(n_dead)
        ]
        asyncio.run(_produce_jobs(stack, dead))
        time.sleep(5)  # handed off to the retry path, which is now busy with them
        ok = [
            _job(i, "mon_backlog_ok", receiver.url + "/backlog-ok", {"delays_s": [1]})
            for i in range(200)
        ]
        t0 = time.monotonic()
        asyncio.run(_produce_jobs(stack, ok))
        receiver.wait_for(lambda evs: len(evs) >= 200, path="/backlog-ok", timeout_s=60)
        assert time.monotonic() - t0 < 60
    finally:
        hang.close()  # the rest now fails at once and drains to the dead letters
    ids = [j["id"] for j in dead]
    seen = asyncio.run(read_dlq_ids(stack, set(ids), timeout_s=120))
    assert sorted(seen) == sorted(ids), f"{len(set(ids) - set(seen))} never dead-lettered"


def test_a_retry_tier_that_pauses_and_resumes_its_partitions_loses_and_doubles_nothing(
    stack: DevStack,
) -> None:
    """3,000 jobs on a retry tier whose queue holds 100: it pauses fetching from its
    partitions and resumes it many times. Paused through Faust, whose consumer skips records
    of a paused partition and commits past them as a gap, 166 (and once 180) were never
    attempted; every job must be attempted exactly once and end in the dead letters."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: every attempt is refused at once
    url = f"http://127.0.0.1:{closed.getsockname()[1]}/refused"
    n = 3000
    due = time.time() + 4  # the tier holds its head until then, and its queue fills up;
    # then one job falls due every 2 ms, so the queue empties and fills again and again
    jobs = [
        {
            **_job(i, f"mon_pause_{i % 8}", url, {"delays_s": []}),
            "hold_until": due + i * 0.002,
            "next_attempt_at": due + i * 0.002,
        }
        for i in range(n)
    ]
    try:
        asyncio.run(_produce_on(stack, "blockhook.deliveries.retry.5s", jobs))
        ids = [j["id"] for j in jobs]
        seen = asyncio.run(read_dlq_ids(stack, set(ids), timeout_s=120))
    finally:
        closed.close()
    lost, doubled = len(set(ids) - set(seen)), len(seen) - len(set(seen))
    assert sorted(seen) == sorted(ids), f"{lost} lost, {doubled} doubled"


async def _produce_on(stack: DevStack, topic: str, jobs: list[dict[str, Any]]) -> None:
    """Jobs one per message, keyed by monitor as the worker keys them."""
    from aiokafka import AIOKafkaProducer

    p = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{stack.cfg.broker_port}", linger_ms=20)
    await p.start()
    try:
        sent = [await p.send(topic, orjson.dumps(j), key=j["monitor_id"].encode()) for j in jobs]
        await asyncio.gather(*sent)
    finally:
        await p.stop()


async def read_dlq_ids(stack: DevStack, wanted: set[str], timeout_s: float) -> list[str]:
    """The ids among `wanted` on the dead-letter topic, with repeats, once all have come
    (or the time is up) and nothing more has come for 5 s."""
    consumer = dlq_consumer(stack)
    await consumer.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + timeout_s
        quiet_until = 0.0
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            got = [orjson.loads(r.value)["id"] for rs in batch.values() for r in rs]
            seen += [i for i in got if i in wanted]
            if got:
                quiet_until = time.monotonic() + 5
            if set(seen) >= wanted and time.monotonic() > quiet_until:
                break
        return seen
    finally:
        await consumer.stop()
