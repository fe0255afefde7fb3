"""Access control across two workers of one group (two of the shared group's three): one
idempotency key creates one monitor, a nonce is spent on both, a revocation reaches the
other worker within 5 s, and concurrent changes on both give one audit chain with no gap and
no fork."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from dev.devstack import DevStack
from tests.e2e.group import Group
from tests.e2e.receiver import Receiver
from tests.e2e.test_access import chain_hash, monitor_body, refused
from transport.apiclient import ApiClient


@dataclass
class Pair:
    """Two workers of the shared group: `a` (the stack's own) and `b`, with admin clients."""

    group: Group

    @property
    def stack(self) -> DevStack:
        return self.group.stack

    @property
    def a(self) -> ApiClient:
        return self.group.clients["a"]

    @property
    def b(self) -> ApiClient:
        return self.group.clients["b"]

    def restart(self, name: str) -> None:
        """Start a killed worker again, until its API is ready."""
        self.group.start(name)
        self.group.wait_ready(name)


@pytest.fixture(scope="module")
def pair(group: Group) -> Pair:
    return Pair(group)


@pytest.fixture()
def hooks() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def listed(c: ApiClient, addresses: list[str]) -> list[str]:
    status, page = c.call("GET", "/v1/monitors?limit=1000")
    assert status == 200, page
    return [m["id"] for m in page["items"] if m["addresses"] == addresses]


def test_one_idempotency_key_on_two_workers_creates_one_monitor(
    pair: Pair, hooks: Receiver
) -> None:
    for round_ in range(3):
        body = monitor_body(hooks)
        idem = {"idempotency-key": f"twice-{round_}-{os.urandom(4).hex()}"}
        with ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(
                    lambda c, b=body, h=idem: c.call_full("POST", "/v1/monitors", b, headers=h),
                    (pair.a, pair.b),
                )
            )
        assert [a[0] for a in answers] == [201, 201], answers
        assert answers[0][1] == answers[1][1]
        replays = [a[2].get("idempotent-replayed") for a in answers]
        assert sorted(replays, key=str) == sorted([None, "true"], key=str), replays
        made = answers[0][1]["id"]
        for c in (pair.a, pair.b):
            deadline = time.monotonic() + 10
            while (got := listed(c, body["addresses"])) != [made]:
                assert time.monotonic() < deadline, got
                time.sleep(0.1)


def test_a_nonce_spent_on_one_worker_is_refused_on_the_other(pair: Pair, hooks: Receiver) -> None:
    body = monitor_body(hooks)
    raw = json.dumps(body).encode()
    h = pair.a.headers("POST", "/v1/monitors", raw)
    assert pair.a.call_full("POST", "/v1/monitors", raw=raw, headers=h)[0] == 201
    got = pair.b.call_full("POST", "/v1/monitors", raw=raw, headers=h)
    assert (got[0], got[1]["error"]["code"]) == (401, "replayed")


def test_revocation_reaches_the_other_worker_within_5_s(pair: Pair) -> None:
    status, made = pair.a.call("POST", "/v1/keys", {"principal": "temp", "roles": ["viewer"]})
    assert status == 201
    on_b = ApiClient(pair.b.url, made["id"], made["secret"])
    deadline = time.monotonic() + 10
    while on_b.call("GET", "/v1/monitors")[0] != 200:
        assert time.monotonic() < deadline, "the new key never reached the second worker"
        time.sleep(0.05)
    assert pair.a.call("DELETE", f"/v1/keys/{made['id']}")[0] == 200
    t0 = time.monotonic()
    while (got := on_b.call_full("GET", "/v1/monitors"))[0] == 200:
        assert time.monotonic() - t0 < 5.0, "the other worker still takes a revoked key"
        time.sleep(0.05)
    assert (got[0], got[1]["error"]["code"]) == (401, "unauthenticated")


def test_concurrent_changes_on_both_workers_give_one_chain(pair: Pair, hooks: Receiver) -> None:
    def change(i: int) -> tuple[int, str]:
        c = pair.a if i % 2 else pair.b
        status, _, headers = c.call_full("POST", "/v1/monitors", monitor_body(hooks))
        return status, headers["bh-request-id"]

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(change, range(40)))
    assert all(status == 201 for status, _ in done)
    wanted = {rid for _, rid in done}
    chains: list[list[dict[str, Any]]] = []
    for c in (pair.a, pair.b):
        deadline = time.monotonic() + 20
        while True:
            status, page = c.call("GET", "/v1/audit?limit=1000")
            assert status == 200 and page["cursor"] is None
            if wanted <= {r["request_id"] for r in page["items"]}:
                break
            assert time.monotonic() < deadline, "changes missing from the audit log"
            time.sleep(0.2)
        status, verdict = c.call("GET", "/v1/audit/verify")
        assert status == 200 and verdict["ok"] is True, verdict
        chains.append(page["items"])
    n = min(len(chains[0]), len(chains[1]))
    assert chains[0][:n] == chains[1][:n]  # one chain, the same on both
    prev = "0" * 64
    for i, r in enumerate(chains[0], start=1):
        assert r["seq"] == i and r["prev_hash"] == prev and r["hash"] == chain_hash(r)
        prev = r["hash"]
    assert len({r["request_id"] for r in chains[0]}) == len(chains[0])  # nothing twice


def test_refusals_on_the_other_worker_are_audited(pair: Pair) -> None:
    wrong = ApiClient(pair.b.url, pair.b.key_id, "bhsk_" + "B" * 43)
    # `refused` finds the record through the first worker's API: the log is shared.
    rec = refused(pair.stack, wrong.call_full("GET", "/v1/monitors"), 401, "unauthenticated")
    assert rec["key_id"] == pair.b.key_id


def audit_log(c: ApiClient) -> list[dict[str, Any]]:
    """The whole audit log as one worker answers it."""
    out: list[dict[str, Any]] = []
    cursor = ""
    while True:
        status, page = c.call("GET", f"/v1/audit?limit=1000{cursor}")
        assert status == 200, page
        out += page["items"]
        if not page["cursor"]:
            return out
        cursor = f"&cursor={page['cursor']}"


def test_kill_9_either_worker_under_load_leaves_one_chain(pair: Pair, hooks: Receiver) -> None:
    """Changes keep coming to both workers while each in turn is killed with SIGKILL and
    started again: every answered change is in the chain once, with no gap and no fork."""
    answered: list[str] = []
    stop = threading.Event()

    def traffic(c: ApiClient) -> None:
        while not stop.is_set():
            try:
                status, _, headers = c.call_full("POST", "/v1/monitors", monitor_body(hooks))
            except OSError:  # the worker is down: a client would retry elsewhere
                time.sleep(0.05)
                continue
            if status == 201:
                answered.append(headers["bh-request-id"])

    threads = [threading.Thread(target=traffic, args=(c,)) for c in (pair.a, pair.b)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        pair.group.kill("b")  # the second worker, mid-stream
        time.sleep(1.0)
        pair.restart("b")
        time.sleep(1.0)
        pair.group.kill("a")  # then the first
        time.sleep(1.0)
        pair.restart("a")
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert len(answered) > 20, "too little traffic to prove anything"
    wanted = set(answered)
    deadline = time.monotonic() + 60
    while True:
        records = audit_log(pair.a)
        missing = wanted - {r["request_id"] for r in records}
        if not missing:
            break
        assert time.monotonic() < deadline, f"{len(missing)} answered changes not audited"
        time.sleep(0.5)
    status, verdict = pair.a.call("GET", "/v1/audit/verify")
    assert status == 200 and verdict["ok"] is True, verdict
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    ids = [r["request_id"] for r in records]
    assert len(ids) == len(set(ids)), "an entry was chained twice"
    prev = "0" * 64
    for r in records:
        assert r["prev_hash"] == prev and r["hash"] == chain_hash(r)
        prev = r["hash"]
