"""The API's access-control gate (api/auth.py), in process, with access control on.

Each worker's views (keys, claims, audit, monitors) are folded from an in-memory broker
twin the way the Kafka folds would: every record published is applied to every worker's
views at once (and the audit entries are chained as the chainer would), so a request that
waits for its claim's decision gets it. The gate's clock is frozen on a whole second, so the
300 s window and the rate limiter are exact."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy

import api.auth
from api.server import AlwaysReady, Api
from core.publish import ListPublisher, Message
from core.settings import Settings
from core.timefmt import iso_utc
from streams.apikeys import SECRET_PREFIX, make_key
from streams.auditchain import Head, chain, entry_from
from streams.reqsign import sign_headers
from streams.secretbox import SecretBox
from streams.watchlist import monitor_digest
from views.audit import AuditView
from views.claims import ClaimsView
from views.keys import KeysView
from views.monitors import MonitorsView
from views.topicfold import TopicFold

MASTER = bytes(range(32))
HOOK = "http://127.0.0.1:9/hook"
MONITOR = {"chain": "local", "webhook": {"url": HOOK}}

Client = TestClient[Any, Any]


class Clock:
    """The gate's clock (it reads `time.time()` through this)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@dataclass
class Worker:
    """One worker's views and its API."""

    monitors: MonitorsView
    keys: KeysView
    claims: ClaimsView
    audit: AuditView
    api: Api

    def views(self) -> tuple[TopicFold, ...]:
        return (self.monitors, self.keys, self.claims, self.audit)


class Broker(ListPublisher):
    """The twin, plus what the broker, the chainer and the workers' folds do with each
    record: it is applied to every worker's views at once (a monitor is reported applied,
    an audit entry is chained onto the audit topic). `claims_answer` False: the claims log
    never gives a claim back."""

    def __init__(self, s: Settings) -> None:
        super().__init__()
        self.s = s
        self.workers: list[Worker] = []
        self.claims_answer = True
        self.head = Head()
        self.chained: list[dict[str, Any]] = []

    async def publish(self, messages: Iterable[Message]) -> None:
        batch = list(messages)
        await super().publish(batch)
        await self.fold(batch)

    async def publish_buffered(self, messages: Iterable[Message]) -> None:
        batch = list(messages)
        await super().publish_buffered(batch)
        await self.fold(batch)  # the producer delivers them soon; here, at once

    async def fold(self, batch: list[Message]) -> None:
        for m in batch:
            if m.topic == "audit.requests":
                entry = entry_from(orjson.loads(m.value or b"null"))
                assert entry is not None, m
                record, self.head = chain(self.head, entry)
                self.chained.append(record)
                self._apply("audit", m.key, orjson.dumps(record))
            elif m.topic == "auth.claims" and not self.claims_answer:
                continue
            else:
                self._apply(m.topic, m.key, m.value)
            if m.topic == "monitors":
                monitor = orjson.loads(m.value) if m.value is not None else None
                applied = orjson.dumps({"digest": monitor_digest(monitor)})
                self._apply("monitors.applied", m.key, applied)
        for w in self.workers:  # as TopicFold._run does after each batch
            for view in w.views():
                async with view._changed:
                    view._changed.notify_all()

    def _apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        ts = int(time.time() * 1000)
        for w in self.workers:
            for view in w.views():
                if topic in view.TOPICS:
                    view.apply(self.s.topic(topic), key, value, ts)

    def everything(self) -> list[bytes]:
        """Every value that went on any topic (the chained audit records too)."""
        out = [m.value or b"" for m in (*self.sent, *self.buffered)]
        return out + [orjson.dumps(r) for r in self.chained]

    def entries(self, request_id: str) -> list[dict[str, Any]]:
        """The audit entries the API published for one request."""
        out = []
        for m in self.sent:
            if m.topic == "audit.requests":
                e = orjson.loads(m.value or b"{}")
                if e.get("request_id") == request_id:
                    out.append(e)
        return out

    def count(self, topic: str) -> int:
        return sum(1 for m in self.sent if m.topic == topic)


@dataclass(frozen=True)
class Cred:
    """A key as its holder knows it."""

    id: str
    secret: str
    principal: str


@dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    text: str

    @property
    def data(self) -> Any:
        return orjson.loads(self.text) if self.text else None

    @property
    def code(self) -> str | None:
        data = self.data
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            return str(data["error"]["code"])
        return None


def settings(**auth: Any) -> Settings:
    return Settings(
        broker="kafka://127.0.0.1:1",
        allow_loopback_webhooks=True,
        chains=[{"name": "local", "chain_id": 31337, "rpc_urls": ["http://127.0.0.1:1"]}],
        auth={
            "enabled": True,
            "master_key": base64.b64encode(MASTER).decode(),
            "claim_timeout_s": 2.0,
            **auth,
        },
    )


@dataclass
class Harness:
    s: Settings
    clock: Clock
    box: SecretBox
    broker: Broker
    clients: list[Client] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)

    @property
    def client(self) -> Client:
        return self.clients[0]

    @property
    def worker(self) -> Worker:
        return self.broker.workers[0]

    async def key(
        self,
        principal: str,
        roles: Sequence[str],
        allowed_ips: Sequence[str] = (),
        expires_at: str | None = None,
    ) -> Cred:
        """A key made as `blockhook keys create` makes it, put on the keys topic."""
        record, secret = make_key(
            self.box, principal, roles, allowed_ips, expires_at, self.clock.now
        )
        value = orjson.dumps(record)
        await self.broker.publish([Message("keys", str(record["id"]).encode(), value)])
        return Cred(str(record["id"]), secret, principal)

    def sign(
        self,
        cred: Cred,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        skew: float = 0,
        secret: str | None = None,
    ) -> dict[str, str]:
        headers = sign_headers(
            cred.id, secret or cred.secret, method, path, body, self.clock.now + skew
        )
        self.signatures.append(headers["bh-signature"])
        return headers

    async def call(
        self,
        cred: Cred | None,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        signed: dict[str, str] | None = None,
        raw: bytes | None = None,
        send_path: str | None = None,
        send_body: bytes | None = None,
        skew: float = 0,
        secret: str | None = None,
        worker: int = 0,
    ) -> Answer:
        """One request, signed for (method, path, body) unless `signed` headers are given;
        `send_path` / `send_body` change what is sent after signing (tampering)."""
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else b"")
        h: dict[str, str] = {"content-type": "application/json"} if data else {}
        if signed is not None:
            h.update(signed)
        elif cred is not None:
            h.update(self.sign(cred, method, path, data, skew=skew, secret=secret))
        h.update(headers or {})
        out = send_body if send_body is not None else data
        resp = await self.clients[worker].request(
            method, send_path or path, data=out or None, headers=h
        )
        return Answer(resp.status, resp.headers, await resp.text())

    def refused(self, a: Answer, status: int, code: str) -> dict[str, Any]:
        """Assert the answer is this refusal and that it was audited, once."""
        assert (a.status, a.code) == (status, code), a.text
        (entry,) = self.broker.entries(a.headers["bh-request-id"])
        assert entry["action"] == "auth.refused"
        assert entry["outcome"] == "refused" and entry["status"] == status
        assert entry["detail"]["code"] == code
        return entry

    def assert_nothing_secret_published(self) -> None:
        for value in self.broker.everything():
            text = value.decode("utf-8", "replace")
            assert SECRET_PREFIX not in text, text
            for sig in self.signatures:
                assert sig not in text and sig.removeprefix("v1,") not in text, text


def make_worker(s: Settings, box: SecretBox, broker: Broker) -> Worker:
    monitors = MonitorsView(s)
    keys = KeysView(s, box)
    claims = ClaimsView(s)
    audit = AuditView(s)
    api_ = Api(s, monitors, broker, AlwaysReady(), keys=keys, claims=claims, audit=audit, box=box)
    return Worker(monitors, keys, claims, audit, api_)


@asynccontextmanager
async def running(
    monkeypatch: pytest.MonkeyPatch, workers: int = 1, **auth: Any
) -> AsyncIterator[Harness]:
    for name in [n for n in os.environ if n.startswith("BLOCKHOOK_")]:
        monkeypatch.delenv(name)  # only what the test says
    s = settings(**auth)
    clock = Clock(float(int(time.time())))
    monkeypatch.setattr(api.auth, "time", clock)
    box = SecretBox(MASTER)
    broker = Broker(s)
    broker.workers = [make_worker(s, box, broker) for _ in range(workers)]
    h = Harness(s, clock, box, broker)
    for w in broker.workers:
        client: Client = TestClient(TestServer(w.api.app()))
        await client.start_server()
        h.clients.append(client)
    try:
        yield h
        h.assert_nothing_secret_published()
    finally:
        for c in h.clients:
            await c.close()


@pytest.fixture
async def h(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    async with running(monkeypatch) as harness:
        yield harness


# --- authentication ---------------------------------------------------------------------


async def test_public_paths_need_no_key(h: Harness) -> None:
    for path in ("/v1/openapi.json", "/healthz", "/metrics"):
        a = await h.call(None, "GET", path)
        assert a.status == 200, (path, a.text)
    assert h.broker.sent == []  # nothing refused, nothing audited


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/monitors"), ("POST", "/v1/monitors"), ("GET", "/v1/nowhere"), ("GET", "/v1")],
)
async def test_an_unsigned_request_is_refused(h: Harness, method: str, path: str) -> None:
    a = await h.call(None, method, path, MONITOR if method == "POST" else None)
    entry = h.refused(a, 401, "unauthenticated")
    assert entry["principal"] == "anonymous" and entry["key_id"] is None
    assert entry["ip"] == "127.0.0.1"
    assert h.worker.monitors.monitors == {}


async def test_a_missing_signature_header_is_named(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    signed = h.sign(op, "GET", "/v1/monitors")
    del signed["bh-nonce"]
    a = await h.call(op, "GET", "/v1/monitors", signed=signed)
    entry = h.refused(a, 401, "unauthenticated")
    assert a.data["error"]["field"] == "bh-nonce"
    assert entry["principal"] == "alice" and entry["key_id"] == op.id


async def test_a_wrong_secret_is_refused(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    a = await h.call(op, "GET", "/v1/monitors", secret=SECRET_PREFIX + "x" * 43)
    h.refused(a, 401, "unauthenticated")
    assert a.data["error"]["field"] == "bh-signature"
    assert (await h.call(op, "GET", "/v1/monitors")).status == 200


async def test_an_unknown_key_is_refused(h: Harness) -> None:
    ghost = Cred("key_" + "0" * 24, SECRET_PREFIX + "y" * 43, "ghost")
    a = await h.call(ghost, "GET", "/v1/monitors")
    entry = h.refused(a, 401, "unauthenticated")
    assert entry["principal"] == "anonymous" and entry["key_id"] == ghost.id


async def test_a_key_sealed_under_another_master_key_is_refused(h: Harness) -> None:
    other = SecretBox(bytes(range(1, 33)))
    record, secret = make_key(other, "mallory", ["admin"], [], None, h.clock.now)
    await h.broker.publish([Message("keys", str(record["id"]).encode(), orjson.dumps(record))])
    a = await h.call(Cred(str(record["id"]), secret, "mallory"), "GET", "/v1/keys")
    h.refused(a, 401, "unauthenticated")


async def test_a_revoked_key_is_refused(h: Harness) -> None:
    admin = await h.key("root", ["admin"])
    op = await h.key("alice", ["operator"])
    assert (await h.call(op, "GET", "/v1/monitors")).status == 200
    revoke = await h.call(admin, "DELETE", f"/v1/keys/{op.id}")
    assert revoke.status == 200 and revoke.data["revoked"] is True, revoke.text
    (entry,) = h.broker.entries(revoke.headers["bh-request-id"])
    assert (entry["action"], entry["target"], entry["outcome"]) == ("key.revoke", op.id, "ok")
    a = await h.call(op, "GET", "/v1/monitors")
    h.refused(a, 401, "unauthenticated")
    assert "revoked" in a.data["error"]["message"]


async def test_an_expired_key_is_refused(h: Harness) -> None:
    old = await h.key("alice", ["operator"], expires_at=iso_utc(h.clock.now - 1))
    h.refused(await h.call(old, "GET", "/v1/monitors"), 401, "unauthenticated")
    live = await h.key("bob", ["operator"], expires_at=iso_utc(h.clock.now + 60))
    assert (await h.call(live, "GET", "/v1/monitors")).status == 200


@pytest.mark.parametrize("skew", [-301, 301, -100_000])
async def test_a_stale_timestamp_is_refused(h: Harness, skew: int) -> None:
    op = await h.key("alice", ["operator"])
    a = await h.call(op, "GET", "/v1/monitors", skew=skew)
    h.refused(a, 401, "stale_timestamp")
    a = await h.call(op, "POST", "/v1/monitors", MONITOR, skew=skew)
    h.refused(a, 401, "stale_timestamp")
    assert h.worker.monitors.monitors == {}


@pytest.mark.parametrize("skew", [-300, -299, 0, 299, 300])
async def test_a_timestamp_within_300_s_is_accepted(h: Harness, skew: int) -> None:
    op = await h.key("alice", ["operator"])
    assert (await h.call(op, "GET", "/v1/monitors", skew=skew)).status == 200
    a = await h.call(op, "POST", "/v1/monitors", MONITOR, skew=skew)
    assert a.status == 201, a.text


async def test_a_replayed_get_is_refused(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    signed = h.sign(op, "GET", "/v1/monitors")
    assert (await h.call(op, "GET", "/v1/monitors", signed=signed)).status == 200
    h.refused(await h.call(op, "GET", "/v1/monitors", signed=signed), 401, "replayed")


async def test_a_replayed_post_is_refused_and_not_run_again(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    body = orjson.dumps(MONITOR)
    signed = h.sign(op, "POST", "/v1/monitors", body)
    first = await h.call(op, "POST", "/v1/monitors", raw=body, signed=signed)
    assert first.status == 201, first.text
    again = await h.call(op, "POST", "/v1/monitors", raw=body, signed=signed)
    h.refused(again, 401, "replayed")
    assert len(h.worker.monitors.monitors) == 1 and h.broker.count("monitors") == 1


async def test_a_nonce_used_on_one_worker_is_replayed_on_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running(monkeypatch, workers=2) as h:
        op = await h.key("alice", ["operator"])
        body = orjson.dumps(MONITOR)
        signed = h.sign(op, "POST", "/v1/monitors", body)
        a = await h.call(op, "POST", "/v1/monitors", raw=body, signed=signed, worker=0)
        assert a.status == 201, a.text
        b = await h.call(op, "POST", "/v1/monitors", raw=body, signed=signed, worker=1)
        h.refused(b, 401, "replayed")
        read = h.sign(op, "GET", "/v1/monitors")
        assert (await h.call(op, "GET", "/v1/monitors", signed=read, worker=1)).status == 200
        h.refused(await h.call(op, "GET", "/v1/monitors", signed=read, worker=0), 401, "replayed")
        assert h.broker.count("monitors") == 1


async def test_the_claims_log_decides_a_race_between_two_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running(monkeypatch, workers=2) as h:
        op = await h.key("alice", ["operator"])
        body = orjson.dumps(MONITOR)
        signed = h.sign(op, "POST", "/v1/monitors", body)
        h.broker.claims_answer = False  # neither worker has seen the other's claim yet
        racing = [
            asyncio.create_task(
                h.call(op, "POST", "/v1/monitors", raw=body, signed=signed, worker=w)
            )
            for w in (0, 1)
        ]
        for _ in range(200):
            if h.broker.count("auth.claims") == 2:
                break
            await asyncio.sleep(0.01)
        claims = [m for m in h.broker.sent if m.topic == "auth.claims"]
        assert len(claims) == 2
        h.broker.claims_answer = True
        await h.broker.fold(claims)  # the log's one order reaches both workers
        answers = await asyncio.gather(*racing)
        winner = orjson.loads(claims[0].value or b"")["id"]
        won, lost = sorted(answers, key=lambda a: a.headers["bh-request-id"] != winner)
        assert won.headers["bh-request-id"] == winner and won.status == 201, won.text
        h.refused(lost, 401, "replayed")
        assert h.broker.count("monitors") == 1


async def test_a_tampered_body_is_refused(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    sent = orjson.dumps({**MONITOR, "name": "evil"})
    a = await h.call(op, "POST", "/v1/monitors", MONITOR, send_body=sent)
    h.refused(a, 401, "unauthenticated")
    assert h.worker.monitors.monitors == {} and h.broker.count("monitors") == 0


async def test_a_tampered_query_is_refused(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    a = await h.call(op, "GET", "/v1/monitors?limit=10", send_path="/v1/monitors?limit=11")
    h.refused(a, 401, "unauthenticated")
    a = await h.call(op, "GET", "/v1/monitors?limit=10", send_path="/v1/monitors")
    h.refused(a, 401, "unauthenticated")
    assert (await h.call(op, "GET", "/v1/monitors?limit=10")).status == 200


async def test_a_body_too_large_is_refused(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    big = orjson.dumps({**MONITOR, "name": "x" * (h.s.api_max_body_bytes + 10)})
    h.refused(await h.call(op, "POST", "/v1/monitors", raw=big), 413, "body_too_large")


# --- authorisation ----------------------------------------------------------------------


async def test_an_address_outside_the_allowlist_is_refused(h: Harness) -> None:
    op = await h.key("alice", ["operator"], allowed_ips=["203.0.113.0/24"])
    entry = h.refused(await h.call(op, "GET", "/v1/monitors"), 403, "ip_not_allowed")
    assert entry["ip"] == "127.0.0.1"
    # X-Forwarded-For counts for nothing from a peer that is not a trusted proxy.
    xff = {"X-Forwarded-For": "203.0.113.7"}
    a = await h.call(op, "GET", "/v1/monitors", headers=xff)
    assert h.refused(a, 403, "ip_not_allowed")["ip"] == "127.0.0.1"
    local = await h.key("bob", ["operator"], allowed_ips=["127.0.0.0/8"])
    assert (await h.call(local, "GET", "/v1/monitors")).status == 200


async def test_x_forwarded_for_counts_from_a_trusted_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running(monkeypatch, trusted_proxies=["127.0.0.1/32"]) as h:
        op = await h.key("alice", ["operator"], allowed_ips=["203.0.113.0/24"])
        a = await h.call(
            op, "POST", "/v1/monitors", MONITOR, headers={"X-Forwarded-For": "203.0.113.7"}
        )
        assert a.status == 201, a.text
        (entry,) = h.broker.entries(a.headers["bh-request-id"])
        assert entry["ip"] == "203.0.113.7" and entry["action"] == "monitor.create"
        # Only the right-most untrusted hop is the client: a spoofed left-most one is not.
        spoofed = {"X-Forwarded-For": "203.0.113.7, 198.51.100.1"}
        a = await h.call(op, "GET", "/v1/monitors", headers=spoofed)
        assert h.refused(a, 403, "ip_not_allowed")["ip"] == "198.51.100.1"
        h.refused(await h.call(op, "GET", "/v1/monitors"), 403, "ip_not_allowed")


async def test_a_role_that_does_not_allow_it_is_refused(h: Harness) -> None:
    viewer = await h.key("vera", ["viewer"])
    op = await h.key("alice", ["operator"])
    admin = await h.key("root", ["admin"])
    assert (await h.call(viewer, "GET", "/v1/monitors")).status == 200
    entry = h.refused(await h.call(viewer, "POST", "/v1/monitors", MONITOR), 403, "forbidden")
    assert entry["detail"]["route"] == "monitor.create" and entry["principal"] == "vera"
    h.refused(await h.call(op, "GET", "/v1/keys"), 403, "forbidden")
    h.refused(await h.call(op, "GET", "/v1/audit"), 403, "forbidden")
    body = {"principal": "eve", "roles": ["admin"]}
    h.refused(await h.call(op, "POST", "/v1/keys", body), 403, "forbidden")
    assert len(h.worker.keys.records) == 3 and h.worker.monitors.monitors == {}
    assert (await h.call(admin, "GET", "/v1/keys")).status == 200


async def test_too_many_requests_are_rate_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    async with running(monkeypatch, rate_limit_per_s=0.5, rate_limit_burst=2) as h:
        op = await h.key("alice", ["operator"])
        other = await h.key("bob", ["operator"])
        for _ in range(2):
            assert (await h.call(op, "GET", "/v1/monitors")).status == 200
        a = await h.call(op, "GET", "/v1/monitors")
        h.refused(a, 429, "rate_limited")
        assert a.headers["Retry-After"] == "2" and int(a.headers["Retry-After"]) == 2
        h.refused(await h.call(op, "POST", "/v1/monitors", MONITOR), 429, "rate_limited")
        assert (await h.call(other, "GET", "/v1/monitors")).status == 200  # per key
        h.clock.now += 2  # one token back
        assert (await h.call(op, "GET", "/v1/monitors")).status == 200
        h.refused(await h.call(op, "GET", "/v1/monitors"), 429, "rate_limited")
        assert h.worker.monitors.monitors == {}


# --- idempotency ------------------------------------------------------------------------


async def test_the_same_idempotency_key_gets_the_first_answer(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    idem = {"idempotency-key": "create-monitor-1"}
    first = await h.call(op, "POST", "/v1/monitors", MONITOR, headers=idem)
    assert first.status == 201, first.text
    assert "idempotent-replayed" not in first.headers
    second = await h.call(op, "POST", "/v1/monitors", MONITOR, headers=idem)
    assert (second.status, second.text) == (first.status, first.text)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"].startswith("application/json")
    assert list(h.worker.monitors.monitors) == [first.data["id"]]
    assert h.broker.count("monitors") == 1
    (entry,) = h.broker.entries(second.headers["bh-request-id"])
    assert entry["action"] == "monitor.create" and entry["detail"]["idempotent_replay"] is True
    # The answer kept on the claims log is sealed: its webhook secret is not in the clear.
    secret = first.data["webhook"]["secret"]
    claims = [m.value or b"" for m in h.broker.sent if m.topic == "auth.claims"]
    assert claims and all(secret.encode() not in v for v in claims)


async def test_the_same_idempotency_key_with_another_body_is_refused(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    idem = {"idempotency-key": "k1"}
    first = await h.call(op, "POST", "/v1/monitors", MONITOR, headers=idem)
    assert first.status == 201, first.text
    other = {**MONITOR, "name": "another"}
    a = await h.call(op, "POST", "/v1/monitors", other, headers=idem)
    h.refused(a, 409, "idempotency_mismatch")
    assert a.data["error"]["field"] == "idempotency-key"
    assert len(h.worker.monitors.monitors) == 1 and h.broker.count("monitors") == 1


async def test_idempotency_keys_belong_to_their_principal(h: Harness) -> None:
    alice = await h.key("alice", ["operator"])
    bob = await h.key("bob", ["operator"])
    idem = {"idempotency-key": "same"}
    a = await h.call(alice, "POST", "/v1/monitors", MONITOR, headers=idem)
    b = await h.call(bob, "POST", "/v1/monitors", MONITOR, headers=idem)
    assert (a.status, b.status) == (201, 201)
    assert "idempotent-replayed" not in b.headers and a.data["id"] != b.data["id"]
    assert len(h.worker.monitors.monitors) == 2


async def test_an_idempotent_request_is_answered_once_across_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running(monkeypatch, workers=2) as h:
        admin = await h.key("root", ["admin"])
        idem = {"idempotency-key": "new-key-for-carol"}
        body = {"principal": "carol", "roles": ["viewer"]}
        first = await h.call(admin, "POST", "/v1/keys", body, headers=idem, worker=0)
        assert first.status == 201, first.text
        second = await h.call(admin, "POST", "/v1/keys", body, headers=idem, worker=1)
        assert (second.status, second.text) == (201, first.text)
        assert second.headers["idempotent-replayed"] == "true"
        assert h.broker.count("keys") == 2  # root's and carol's: carol's made once
        for w in h.broker.workers:
            assert sorted(w.keys.records) == sorted([admin.id, first.data["id"]])


async def test_concurrent_requests_with_one_idempotency_key_run_once(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    idem = {"idempotency-key": "together"}
    answers = await asyncio.gather(
        *(h.call(op, "POST", "/v1/monitors", MONITOR, headers=idem) for _ in range(3))
    )
    assert [a.status for a in answers] == [201, 201, 201]
    assert len({a.text for a in answers}) == 1
    replayed = [a.headers.get("idempotent-replayed") for a in answers]
    assert sorted(replayed, key=str) == [None, "true", "true"]
    assert len(h.worker.monitors.monitors) == 1 and h.broker.count("monitors") == 1


async def test_a_retry_after_a_late_claim_is_executed(monkeypatch: pytest.MonkeyPatch) -> None:
    async with running(monkeypatch, claim_timeout_s=0.2) as h:
        op = await h.key("alice", ["operator"])
        idem = {"idempotency-key": "late"}
        h.broker.claims_answer = False
        first = await h.call(op, "POST", "/v1/monitors", MONITOR, headers=idem)
        assert (first.status, first.code) == (503, "unavailable")
        h.broker.claims_answer = True  # the log catches up: the late claim is folded
        await h.broker.fold([m for m in h.broker.sent if m.topic == "auth.claims"])
        retry = await h.call(op, "POST", "/v1/monitors", MONITOR, headers=idem)
        assert retry.status == 201, retry.text
        assert len(h.worker.monitors.monitors) == 1


async def test_a_replayed_key_creation_is_still_not_for_caches(h: Harness) -> None:
    admin = await h.key("root", ["admin"])
    idem = {"idempotency-key": "create-carol"}
    body = {"principal": "carol", "roles": ["viewer"]}
    first = await h.call(admin, "POST", "/v1/keys", body, headers=idem)
    assert first.headers["Cache-Control"] == "no-store"
    second = await h.call(admin, "POST", "/v1/keys", body, headers=idem)
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers.get("Cache-Control") == "no-store"


async def test_a_replayed_error_is_audited_as_an_error(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    idem = {"idempotency-key": "unknown-chain"}
    bad = {**MONITOR, "chain": "nowhere"}
    first = await h.call(op, "POST", "/v1/monitors", bad, headers=idem)
    assert (first.status, first.code) == (422, "unknown_chain")
    (entry,) = h.broker.entries(first.headers["bh-request-id"])
    assert (entry["outcome"], entry["status"]) == ("error", 422)
    again = await h.call(op, "POST", "/v1/monitors", bad, headers=idem)
    assert again.status == 422 and again.headers["idempotent-replayed"] == "true"
    (entry,) = h.broker.entries(again.headers["bh-request-id"])
    assert (entry["outcome"], entry["status"]) == ("error", 422)


async def test_a_replayed_create_is_audited_with_its_target(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    idem = {"idempotency-key": "one"}
    first = await h.call(op, "POST", "/v1/monitors", MONITOR, headers=idem)
    again = await h.call(op, "POST", "/v1/monitors", MONITOR, headers=idem)
    assert again.headers["idempotent-replayed"] == "true"
    targets = [h.broker.entries(a.headers["bh-request-id"])[0]["target"] for a in (first, again)]
    assert targets == [first.data["id"], first.data["id"]]


@pytest.mark.parametrize("idem", ["x" * 65, ""])
async def test_an_invalid_idempotency_key_is_refused(h: Harness, idem: str) -> None:
    op = await h.key("alice", ["operator"])
    a = await h.call(op, "POST", "/v1/monitors", MONITOR, headers={"idempotency-key": idem})
    h.refused(a, 400, "invalid_idempotency_key")
    assert a.data["error"]["field"] == "idempotency-key"
    assert h.worker.monitors.monitors == {}


async def test_an_idempotency_key_of_64_characters_is_accepted(h: Harness) -> None:
    op = await h.key("alice", ["operator"])
    idem = {"idempotency-key": "x" * 64}
    assert (await h.call(op, "POST", "/v1/monitors", MONITOR, headers=idem)).status == 201
    again = await h.call(op, "POST", "/v1/monitors", MONITOR, headers=idem)
    assert again.status == 201 and again.headers["idempotent-replayed"] == "true"


async def test_a_claims_log_that_never_answers_makes_changes_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with running(monkeypatch, claim_timeout_s=0.2) as h:
        op = await h.key("alice", ["operator"])
        h.broker.claims_answer = False
        started = time.monotonic()
        a = await h.call(op, "POST", "/v1/monitors", MONITOR)
        assert time.monotonic() - started < 2.0
        assert (a.status, a.code) == (503, "unavailable"), a.text
        assert h.worker.monitors.monitors == {} and h.broker.count("monitors") == 0
        assert h.worker.claims.book.expecting == set()  # the gave-up claim is forgotten
        assert (await h.call(op, "GET", "/v1/monitors")).status == 200  # reads decide here
        h.broker.claims_answer = True
        assert (await h.call(op, "POST", "/v1/monitors", MONITOR)).status == 201


# --- keys, audit, secrets ---------------------------------------------------------------


async def test_a_key_secret_is_shown_once(h: Harness) -> None:
    admin = await h.key("root", ["admin"])
    body = {"principal": "carol", "roles": ["viewer"], "allowed_ips": ["127.0.0.0/8"]}
    made = await h.call(admin, "POST", "/v1/keys", body)
    assert made.status == 201, made.text
    assert made.headers["Cache-Control"] == "no-store"
    secret = made.data["secret"]
    assert secret.startswith(SECRET_PREFIX) and made.data["principal"] == "carol"
    (entry,) = h.broker.entries(made.headers["bh-request-id"])
    assert (entry["action"], entry["target"]) == ("key.create", made.data["id"])
    listing = await h.call(admin, "GET", "/v1/keys")
    assert listing.status == 200
    assert {k["id"] for k in listing.data["items"]} == {admin.id, made.data["id"]}
    one = await h.call(admin, "GET", f"/v1/keys/{made.data['id']}")
    assert one.status == 200 and one.data["principal"] == "carol"
    for a in (listing, one):
        assert SECRET_PREFIX not in a.text and "secret" not in a.text
    carol = Cred(made.data["id"], secret, "carol")  # the new key signs requests
    assert (await h.call(carol, "GET", "/v1/monitors")).status == 200
    h.refused(await h.call(carol, "POST", "/v1/monitors", MONITOR), 403, "forbidden")


async def test_refusals_are_chained_into_the_audit_log(h: Harness) -> None:
    admin = await h.key("root", ["admin"])
    viewer = await h.key("vera", ["viewer"])
    refused = [
        await h.call(None, "GET", "/v1/monitors"),
        await h.call(viewer, "POST", "/v1/monitors", MONITOR),
        await h.call(viewer, "GET", "/v1/monitors", skew=400),
    ]
    assert [a.status for a in refused] == [401, 403, 401]
    listing = await h.call(admin, "GET", "/v1/audit?action=auth.refused")
    assert listing.status == 200, listing.text
    items = listing.data["items"]
    assert [r["request_id"] for r in items] == [a.headers["bh-request-id"] for a in refused]
    assert [r["detail"]["code"] for r in items] == [
        "unauthenticated",
        "forbidden",
        "stale_timestamp",
    ]
    assert [r["seq"] for r in items] == [1, 2, 3]
    verdict = await h.call(admin, "GET", "/v1/audit/verify")
    assert verdict.data == {"ok": True, "records": 3, "head": h.broker.head.hash}


async def test_nothing_secret_goes_on_any_topic(h: Harness) -> None:
    admin = await h.key("root", ["admin"])
    made = await h.call(
        admin,
        "POST",
        "/v1/keys",
        {"principal": "carol", "roles": ["operator"]},
        headers={"idempotency-key": "carol"},
    )
    assert made.status == 201
    carol = Cred(made.data["id"], made.data["secret"], "carol")
    await h.call(carol, "POST", "/v1/monitors", MONITOR, headers={"idempotency-key": "m"})
    await h.call(carol, "POST", "/v1/monitors", MONITOR, headers={"idempotency-key": "m"})
    await h.call(carol, "GET", "/v1/keys")  # forbidden
    await h.call(carol, "GET", "/v1/monitors", secret=admin.secret)  # wrong signature
    await h.call(carol, "DELETE", f"/v1/keys/{admin.id}")  # forbidden
    await h.call(admin, "DELETE", f"/v1/keys/{carol.id}")
    await h.call(carol, "GET", "/v1/monitors")  # revoked
    topics = {m.topic for m in (*h.broker.sent, *h.broker.buffered)}
    assert {"keys", "auth.claims", "audit.requests", "monitors", "keys.usage"} <= topics
    assert len(h.broker.chained) >= 7
    h.assert_nothing_secret_published()
    for value in h.broker.everything():
        for cred in (admin, carol):
            assert cred.secret.encode() not in value
