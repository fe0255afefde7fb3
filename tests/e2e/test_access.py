"""Access control on the real stack: every refusal of the contract with its status and code,
each one audited; roles, allowlists, rate limits, idempotency; the audit chain verifies."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from dev.devstack import DevStack
from schemas.access import AuditRecord
from streams.reqsign import sign_headers
from tests.e2e.conftest import api
from tests.e2e.topicscan import TopicScanner
from transport.apiclient import ApiClient

Answer = tuple[int, Any, dict[str, str]]


def new_key(stack: DevStack, principal: str, roles: list[str], **extra: Any) -> ApiClient:
    """A key made through the API by the stack's admin."""
    status, made = api(stack, "POST", "/v1/keys", {"principal": principal, "roles": roles, **extra})
    assert status == 201, made
    assert str(made["secret"]).startswith("bhsk_")
    return ApiClient(stack.cfg.api_url, made["id"], made["secret"])


def monitor_body(receiver: Any) -> dict[str, Any]:
    """A monitor of one new address, delivering to the test's receiver."""
    return {
        "chain": "local",
        "addresses": ["0x" + os.urandom(20).hex()],
        "webhook": {"url": receiver.url},
    }


def unsigned(stack: DevStack, method: str, path: str) -> Answer:
    req = urllib.request.Request(stack.cfg.api_url + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def audited(stack: DevStack, request_id: str, timeout_s: float = 15.0) -> dict[str, Any]:
    """The audit record of one request (found by the request id the answer carried)."""
    deadline = time.monotonic() + timeout_s
    while True:
        cursor = ""
        while True:
            status, page = api(stack, "GET", f"/v1/audit?limit=1000{cursor}")
            assert status == 200, page
            for rec in page["items"]:
                if rec["request_id"] == request_id:
                    return dict(rec)
            if not page["cursor"]:
                break
            cursor = f"&cursor={page['cursor']}"
        assert time.monotonic() < deadline, f"request {request_id} is not in the audit log"
        time.sleep(0.2)


def refused(stack: DevStack, got: Answer, status: int, code: str) -> dict[str, Any]:
    """The answer is the contract's refusal, and the refusal is in the audit log."""
    st, body, headers = got
    assert (st, body["error"]["code"]) == (status, code), body
    assert set(body["error"]) == {"code", "message", "field"}
    rec = audited(stack, headers["bh-request-id"])
    assert (rec["action"], rec["outcome"], rec["status"]) == ("auth.refused", "refused", status)
    assert rec["detail"]["code"] == code
    return rec


def test_unsigned_request_is_refused_and_audited(stack: DevStack) -> None:
    rec = refused(stack, unsigned(stack, "GET", "/v1/monitors"), 401, "unauthenticated")
    assert rec["principal"] == "anonymous" and rec["key_id"] is None
    assert rec["ip"] == "127.0.0.1"


def test_wrong_secret_and_unknown_key(stack: DevStack) -> None:
    assert stack.admin is not None
    wrong = ApiClient(stack.cfg.api_url, stack.admin.key_id, "bhsk_" + "A" * 43)
    rec = refused(stack, wrong.call_full("GET", "/v1/monitors"), 401, "unauthenticated")
    assert rec["key_id"] == stack.admin.key_id
    unknown = ApiClient(stack.cfg.api_url, "key_" + os.urandom(8).hex(), stack.admin.secret)
    refused(stack, unknown.call_full("GET", "/v1/monitors"), 401, "unauthenticated")


def test_stale_timestamp_both_ways(stack: DevStack) -> None:
    c = stack.admin
    assert c is not None
    for skew in (-301, 301):
        h = sign_headers(c.key_id, c.secret, "GET", "/v1/monitors", b"", time.time() + skew)
        refused(stack, c.call_full("GET", "/v1/monitors", headers=h), 401, "stale_timestamp")
    h = sign_headers(c.key_id, c.secret, "GET", "/v1/monitors", b"", time.time() - 250)
    assert c.call_full("GET", "/v1/monitors", headers=h)[0] == 200  # inside the window


def test_replayed_nonce_read_and_write(stack: DevStack, receiver: Any) -> None:
    c = stack.admin
    assert c is not None
    h = c.headers("GET", "/v1/monitors?limit=5", b"")
    assert c.call_full("GET", "/v1/monitors?limit=5", headers=h)[0] == 200
    refused(stack, c.call_full("GET", "/v1/monitors?limit=5", headers=h), 401, "replayed")
    body = monitor_body(receiver)
    raw = json.dumps(body).encode()
    h = c.headers("POST", "/v1/monitors", raw)
    first = c.call_full("POST", "/v1/monitors", raw=raw, headers=h)
    assert first[0] == 201, first
    refused(stack, c.call_full("POST", "/v1/monitors", raw=raw, headers=h), 401, "replayed")
    status, page = api(stack, "GET", "/v1/monitors?limit=1000")
    assert status == 200
    assert [m["id"] for m in page["items"] if m["addresses"] == body["addresses"]] == [
        first[1]["id"]
    ]


def test_tampered_body_and_query(stack: DevStack) -> None:
    c = stack.admin
    assert c is not None
    signed = json.dumps({"principal": "tamper", "roles": ["viewer"]}).encode()
    sent = json.dumps({"principal": "tamper", "roles": ["admin"]}).encode()
    h = c.headers("POST", "/v1/keys", signed)
    rec = refused(
        stack, c.call_full("POST", "/v1/keys", raw=sent, headers=h), 401, "unauthenticated"
    )
    assert rec["detail"]["route"] == "key.create"
    h = c.headers("GET", "/v1/monitors?limit=10", b"")
    refused(stack, c.call_full("GET", "/v1/monitors?limit=11", headers=h), 401, "unauthenticated")


def test_ip_allowlist_and_untrusted_forwarded_for(stack: DevStack) -> None:
    far = new_key(stack, "far-away", ["viewer"], allowed_ips=["203.0.113.0/24", "2001:db8::/32"])
    rec = refused(stack, far.call_full("GET", "/v1/monitors"), 403, "ip_not_allowed")
    assert rec["principal"] == "far-away" and rec["ip"] == "127.0.0.1"
    # Only trusted proxies may name the client; this stack trusts none.
    xff = far.call_full("GET", "/v1/monitors", headers={"X-Forwarded-For": "203.0.113.7"})
    refused(stack, xff, 403, "ip_not_allowed")
    near = new_key(stack, "near-by", ["viewer"], allowed_ips=["10.0.0.0/8", "127.0.0.1/32"])
    assert near.call("GET", "/v1/monitors")[0] == 200


def test_roles(stack: DevStack, receiver: Any) -> None:
    viewer = new_key(stack, "vera", ["viewer"])
    operator = new_key(stack, "olga", ["operator"])
    signer = new_key(stack, "sig-box", ["signer"])
    assert viewer.call("GET", "/v1/monitors")[0] == 200
    refused(stack, viewer.call_full("GET", "/v1/keys"), 403, "forbidden")  # keys are admin's
    body = monitor_body(receiver)
    rec = refused(stack, viewer.call_full("POST", "/v1/monitors", body), 403, "forbidden")
    assert rec["principal"] == "vera"
    refused(stack, operator.call_full("GET", "/v1/keys"), 403, "forbidden")
    refused(stack, operator.call_full("GET", "/v1/audit"), 403, "forbidden")
    keys_body = {"principal": "x", "roles": ["admin"]}
    refused(stack, operator.call_full("POST", "/v1/keys", keys_body), 403, "forbidden")
    refused(stack, signer.call_full("GET", "/v1/monitors"), 403, "forbidden")
    status, made = operator.call("POST", "/v1/monitors", body)
    assert status == 201, made


def test_revoked_and_expired_keys(stack: DevStack) -> None:
    gone = new_key(stack, "leaver", ["viewer"])
    assert gone.call("GET", "/v1/monitors")[0] == 200
    status, revoked = api(stack, "DELETE", f"/v1/keys/{gone.key_id}")
    assert status == 200 and revoked["revoked"] is True and revoked.get("secret") is None
    t0 = time.monotonic()
    while (got := gone.call_full("GET", "/v1/monitors"))[0] == 200:
        assert time.monotonic() - t0 < 5.0, "a revoked key still works after 5 s"
        time.sleep(0.05)
    refused(stack, got, 401, "unauthenticated")
    status, listed = api(stack, "GET", f"/v1/keys/{gone.key_id}")
    assert status == 200 and listed["revoked"] is True and listed["last_used_at"] is not None
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    brief = new_key(stack, "temp", ["viewer"], expires_at=soon.strftime("%Y-%m-%dT%H:%M:%SZ"))
    while (got := brief.call_full("GET", "/v1/monitors"))[0] == 200:
        assert datetime.now(UTC) < soon + timedelta(seconds=5), "an expired key still works"
        time.sleep(0.1)
    refused(stack, got, 401, "unauthenticated")


def test_rate_limit_answers_429_with_retry_after(stack: DevStack) -> None:
    busy = new_key(stack, "busy-bot", ["viewer"])

    def one(_: int) -> Answer:
        return busy.call_full("GET", "/v1/monitors?limit=1")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(400)))
    limited = [a for a in answers if a[0] == 429]
    assert limited, "400 requests at once never met the limit (burst 100, 50/s)"
    assert all(a[0] in (200, 429) for a in answers)
    assert int(limited[0][2]["Retry-After"]) >= 1
    refused(stack, limited[0], 429, "rate_limited")
    assert stack.admin is not None and stack.admin.call("GET", "/v1/monitors?limit=1")[0] == 200


def test_idempotency_replay_and_mismatch(stack: DevStack, receiver: Any) -> None:
    c = stack.admin
    assert c is not None
    body = monitor_body(receiver)
    idem = {"idempotency-key": "create-" + os.urandom(6).hex()}
    first = c.call_full("POST", "/v1/monitors", body, headers=idem)
    again = c.call_full("POST", "/v1/monitors", body, headers=idem)
    assert first[0] == again[0] == 201
    assert first[1] == again[1]
    assert again[2].get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first[2]
    other = dict(body, name="a different body")
    got = c.call_full("POST", "/v1/monitors", other, headers=idem)
    assert (got[0], got[1]["error"]["code"]) == (409, "idempotency_mismatch")
    audited(stack, got[2]["bh-request-id"])
    # The same idempotency key from another principal is that principal's own.
    olga = new_key(stack, "olga-2", ["operator"])
    theirs = olga.call_full("POST", "/v1/monitors", body, headers=idem)
    assert theirs[0] == 201 and theirs[1]["id"] != first[1]["id"]
    status, page = api(stack, "GET", "/v1/monitors?limit=1000")
    assert status == 200
    made = [m["id"] for m in page["items"] if m["addresses"] == body["addresses"]]
    assert sorted(made) == sorted([first[1]["id"], theirs[1]["id"]])
    bad = c.call_full("POST", "/v1/monitors", body, headers={"idempotency-key": "x" * 65})
    assert (bad[0], bad[1]["error"]["code"]) == (400, "invalid_idempotency_key")


def chain_hash(rec: dict[str, Any]) -> str:
    """The contract's hash, computed here from its text."""
    rest = {k: v for k, v in rec.items() if k != "hash"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((rec["prev_hash"] + text).encode()).hexdigest()


def test_changes_are_audited_and_the_chain_verifies(stack: DevStack, receiver: Any) -> None:
    operator = new_key(stack, "otto", ["operator"])
    body = monitor_body(receiver)
    status, mon, headers = operator.call_full("POST", "/v1/monitors", body)
    assert status == 201, mon
    rec = audited(stack, headers["bh-request-id"])
    assert rec["principal"] == "otto" and rec["key_id"] == operator.key_id
    assert (rec["action"], rec["target"], rec["outcome"], rec["status"]) == (
        "monitor.create",
        mon["id"],
        "ok",
        201,
    )
    assert stack.admin is not None
    status, made, headers = stack.admin.call_full(
        "POST", "/v1/keys", {"principal": "auditor", "roles": ["viewer"]}
    )
    assert status == 201
    rec = audited(stack, headers["bh-request-id"])
    assert (rec["action"], rec["target"], rec["principal"]) == (
        "key.create",
        made["id"],
        "dev-admin",
    )
    assert made["secret"] not in json.dumps(rec)
    status, page = api(stack, "GET", "/v1/audit?action=key.create&principal=dev-admin&limit=1000")
    assert status == 200 and made["id"] in {r["target"] for r in page["items"]}
    assert {r["action"] for r in page["items"]} == {"key.create"}

    records: list[dict[str, Any]] = []
    cursor = ""
    while True:
        status, page = api(stack, "GET", f"/v1/audit?limit=1000{cursor}")
        records += page["items"]
        if not page["cursor"]:
            break
        cursor = f"&cursor={page['cursor']}"
    status, verdict = api(stack, "GET", "/v1/audit/verify")
    assert status == 200 and verdict["ok"] is True, verdict
    assert verdict["records"] >= len(records)
    prev = "0" * 64
    for i, r in enumerate(records, start=1):
        AuditRecord.model_validate(r)
        assert r["seq"] == i and r["prev_hash"] == prev and r["hash"] == chain_hash(r)
        prev = r["hash"]
    assert {"auth.refused", "monitor.create", "key.create"} <= {r["action"] for r in records}


@pytest.mark.parametrize("path", ["/v1/openapi.json"])
def test_openapi_needs_no_key(stack: DevStack, path: str) -> None:
    status, doc, _ = unsigned(stack, "GET", path)
    assert status == 200 and doc["openapi"].startswith("3.")
    assert {"bhKey", "bhTimestamp", "bhNonce", "bhSignature"} <= set(
        doc["components"]["securitySchemes"]
    )
    assert "/v1/audit/verify" in doc["paths"] and "/v1/keys" in doc["paths"]


def test_the_signing_example_in_the_docs_works(stack: DevStack) -> None:
    """docs/security.md's 20-line signer, run as a user would copy it."""
    doc = (Path(__file__).resolve().parents[2] / "docs/security.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    lines = [x for x in code.splitlines() if x.strip() and not x.startswith("#")]
    assert len(lines) <= 22, "the docs promise a short example"
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/security.md", "exec"), scope)
    assert stack.admin is not None
    url, key_id, secret = stack.cfg.api_url, stack.admin.key_id, stack.admin.secret
    status, page = scope["call"](url, key_id, secret, "GET", "/v1/monitors?limit=10")
    assert status == 200 and "items" in page
    status, made = scope["call"](
        url, key_id, secret, "POST", "/v1/keys", {"principal": "doc", "roles": ["viewer"]}
    )
    assert status == 201 and made["secret"].startswith("bhsk_")
    status, err = scope["call"](url, key_id, "bhsk_wrong", "GET", "/v1/monitors")
    assert (status, err["error"]["code"]) == (401, "unauthenticated")


def test_the_topic_scanner_finds_what_is_written(stack: DevStack) -> None:
    """The secrets check after every test can fail: a canary on a new topic is found."""
    canary = b"canary-" + os.urandom(8).hex().encode()
    bootstrap = f"127.0.0.1:{stack.cfg.broker_port}"

    async def write() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait("scanner-canary", b"before " + canary + b" after")
        finally:
            await producer.stop()

    asyncio.run(write())
    scanner = TopicScanner(bootstrap)
    hits = scanner.scan([canary])
    assert [(h.topic, h.offset) for h in hits] == [("scanner-canary", 0)]
    assert scanner.records > 1  # it read the other topics too
    assert scanner.scan([canary]) == []  # and goes on from where it stopped
