"""Three workers of one group against the embedded broker.

Access control across workers: one idempotency key creates one monitor, a nonce is spent on
every worker, a revocation reaches the others within 5 s, concurrent changes on two workers
give one audit chain with no gap and no fork, even while each is killed in turn.

Fail-over: the partitions shared, one follower per chain, `kill -9` of the follower while
blocks, deliveries and withdrawals flow (its partitions and the chain move to the others),
and a rolling restart under load in which the first worker comes back with every table
store pushed ahead of its changelog and a recovery that stalls. Nothing is lost, no state of
a transfer comes under two ids, each withdrawal is one transaction.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.custody import Custody, fresh_address, make_custody
from tests.e2e.group import NAMES, Group, group_stack
from tests.e2e.receiver import Receiver
from tests.e2e.test_access import chain_hash, monitor_body, refused
from tests.e2e.test_pipeline import FUNDER
from tests.e2e.traffic import (
    Pump,
    confirmed_once_each,
    events_on_topic,
    metric,
    trace_txs,
    wait_until,
)
from transport.apiclient import ApiClient

pytestmark = pytest.mark.e2e

OFFSET_KEY = b"__faust\x00offset__"
AHEAD_BY = 100_000


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Group]:
    """Three workers (stopped after this module, so no other test shares the machine with
    them)."""
    yield from group_stack(tmp_path_factory)


# Access control across workers.


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
        if [a[0] for a in answers] != [201, 201]:
            for n in ("a", "b"):
                print(f"--- worker {n}: {pair.group.log_tail(n)}")
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


def test_one_long_list_edited_through_both_workers_at_once_loses_nothing(
    pair: Pair, hooks: Receiver
) -> None:
    """Each worker takes its own edits of a monitor one at a time, but the two collide on
    the chunk they both fill: the worker refuses a chunk written over a version it no longer
    holds, and the request that wrote it plans again. Every address arrives, once."""
    rng = os.urandom
    body = {**monitor_body(hooks), "addresses": ["0x" + rng(20).hex() for _ in range(10_200)]}
    status, mon = pair.a.call("POST", "/v1/monitors", body)
    assert status == 201, mon
    path = f"/v1/monitors/{mon['id']}"
    batches = [["0x" + rng(20).hex() for _ in range(1_500)] for _ in range(16)]

    def add(i: int) -> int:
        status, out = (pair.a if i % 2 else pair.b).call(
            "PATCH", path, {"add_addresses": batches[i]}
        )
        assert status == 200, out
        return status

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(add, range(len(batches)))) == [200] * len(batches)
    want = set(body["addresses"]) | {a for b in batches for a in b}
    for c in (pair.a, pair.b):
        deadline = time.monotonic() + 20
        while True:
            listed: list[str] = []
            cursor = ""
            while True:
                status, page = c.call("GET", f"{path}/addresses?limit=1000&cursor={cursor}")
                assert status == 200, page
                listed += page["items"]
                cursor = page["cursor"]
                if cursor is None:
                    break
            if set(listed) == want or time.monotonic() > deadline:
                break  # the other worker's view may be a moment behind
            time.sleep(0.2)
        assert len(listed) == len(set(listed)) and set(listed) == want


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


# Fail-over.


@pytest.fixture(scope="module")
def custody(group: Group) -> Iterator[Custody]:
    """A signer and a funded treasury on the group, the signer talking to worker c."""
    c = make_custody(group.stack, signer_url=group.url("c"))
    yield c
    c.signer.stop()


@pytest.fixture()
def hooks(group: Group) -> Iterator[Receiver]:
    """A receiver for one test. The monitors that test made for it are deleted after it, so
    that their deliveries (to a receiver gone) do not load the next test's workers."""
    r = Receiver().start()
    yield r
    status, page = group.clients["a"].call("GET", "/v1/monitors?limit=1000")
    for m in page["items"] if status == 200 else []:
        if str((m.get("webhook") or {}).get("url", "")).startswith(r.url):
            group.clients["a"].call("DELETE", f"/v1/monitors/{m['id']}")
    r.stop()


def watch(group: Group, hooks: Receiver, n: int = 20) -> list[str]:
    addresses = [fresh_address() for _ in range(n)]
    body = {"chain": "local", "addresses": addresses, "webhook": {"url": hooks.url + "/h"}}
    status, m = group.clients["a"].call("POST", "/v1/monitors", body)
    assert status == 201, m
    return addresses


def nonce(rpc: str, who: str) -> int:
    return int(ct.rpc(rpc, "eth_getTransactionCount", who, "latest"), 16)


def settle(group: Group, hooks: Receiver, addresses: list[str], txs: list[str]) -> None:
    """Mine the confirmations, then: every transfer confirmed once per id on the webhook and
    on the events topic."""
    rpc = group.stack.cfg.rpc_url
    ct.mine(rpc, 3)
    bootstrap = f"127.0.0.1:{group.stack.cfg.broker_port}"
    try:
        evs = hooks.wait_for(lambda evs: not confirmed_once_each(evs, txs), timeout_s=120)
    except AssertionError:
        missing = [p.split()[0] for p in confirmed_once_each(hooks.events(), txs)]
        print("\n" + trace_txs(bootstrap, missing))
        for n in NAMES:
            print(f"--- worker {n}: {group.log_tail(n)}")
        raise
    assert confirmed_once_each(evs, txs) == []
    on_topic = wait_until(
        lambda: (
            (e := events_on_topic(bootstrap, "blockhook.events", addresses))
            and not confirmed_once_each(e, txs)
            and e
        ),
        60,
        "every transfer confirmed on the events topic",
    )
    assert confirmed_once_each(on_topic, txs) == []


def test_three_workers_share_the_partitions_and_one_follows_the_chain(group: Group) -> None:
    for name in NAMES:
        status, body = group.readyz(name)
        assert status == 200 and body is not None and body["ready"] is True, (name, body)
        # The gauges follow within a tick (half a second).
        wait_until(lambda n=name: metric(group.url(n), "blockhook_ready") == 1, 5, "ready=1")
    follower = group.wait_follower()
    assert metric(group.url(follower), "blockhook_follows", chain="local") == 1
    assert sum(metric(group.url(n), "blockhook_follows", chain="local") for n in NAMES) == 1
    held = {
        n: metric(group.url(n), "blockhook_assigned_partitions", topic="blockhook.transfers")
        for n in NAMES
    }
    assert sum(held.values()) == 6 and all(v >= 1 for v in held.values()), held


def test_kill_9_of_the_follower_under_load_moves_it_and_loses_nothing(
    group: Group, hooks: Receiver, custody: Custody
) -> None:
    rpc = group.stack.cfg.rpc_url
    addresses = watch(group, hooks)
    follower = group.wait_follower()
    others = [n for n in NAMES if n != follower]
    custody = custody.via(group.url(others[0]))  # a worker that stays up
    nonce_before = nonce(rpc, custody.treasury)
    pump = Pump(rpc, FUNDER, addresses).start()
    withdrawals: list[str] = []
    try:
        pump.wait_sent(5)
        withdrawals.append(custody.request(fresh_address(), 10**12)["id"])
        custody.approve_twice(withdrawals[-1])
        group.kill(follower)
        killed_at = time.monotonic()
        # The others take the chain over (and its partitions) once the group notices.
        new = group.wait_follower()
        moved_s = time.monotonic() - killed_at
        assert new in others
        print(f"\nfollower {follower} killed; {new} follows after {moved_s:.1f} s")
        for n in others:
            group.wait_ready(n)
        # Withdrawals keep going through the survivors while the killed worker is down.
        w = custody.request(fresh_address(), 2 * 10**12)
        withdrawals.append(w["id"])
        custody.approve_twice(w["id"])
        pump.wait_sent(5)
        group.start(follower)
        group.wait_ready(follower)
        pump.wait_sent(5)
    finally:
        txs = pump.stop()
    assert not pump.errors
    for wid in withdrawals:
        assert custody.until(wid, "confirmed")["status"] == "confirmed"
    assert nonce(rpc, custody.treasury) == nonce_before + len(withdrawals)
    settle(group, hooks, addresses, txs)


def push_stores_ahead(tables: Path) -> dict[str, str]:
    """Every table partition store in a worker's data dir: its persisted changelog offset
    raised far past the changelog's end. Returns each store's RocksDB identity (a rebuilt
    store is a new database with a new one)."""
    from rocksdict import Options, Rdict

    identities: dict[str, str] = {}
    for path in sorted(tables.glob("*.db")):
        db = Rdict(str(path), Options(raw_mode=True))
        try:
            offset = db.get(OFFSET_KEY)
            if offset is not None:
                db.put(OFFSET_KEY, str(int(offset) + AHEAD_BY).encode())
                identities[path.name] = (path / "IDENTITY").read_text()
        finally:
            db.close()
    assert identities, f"no table stores in {tables}"
    return identities


def test_rolling_restart_with_stores_ahead_and_a_stalled_recovery_loses_nothing(
    group: Group, hooks: Receiver, custody: Custody
) -> None:
    rpc = group.stack.cfg.rpc_url
    addresses = watch(group, hooks)
    nonce_before = nonce(rpc, custody.treasury)
    withdrawals: list[str] = []
    first = NAMES[0]
    seen: list[tuple[int, Any]] = []
    pump = Pump(rpc, FUNDER, addresses).start()
    try:
        for i, name in enumerate(NAMES):
            pump.wait_sent(4)
            up = custody.via(group.url(NAMES[(i + 1) % len(NAMES)]))  # one that stays up
            w = up.request(fresh_address(), 3 * 10**12)
            withdrawals.append(w["id"])
            up.approve_twice(w["id"])
            group.stop(name)  # SIGTERM: it leaves the group and its partitions move
            env: dict[str, str] = {}
            if name == first:
                log_from = group.log(name).stat().st_size
                identities = push_stores_ahead(group.data_dir(name) / "v1" / "tables")
                env = {"BLOCKHOOK_FAULTS": "recovery_stall", "BLOCKHOOK_RECOVERY_STALL_S": "2"}
            group.start(name, env)
            if name == first:
                # Alive at once; not ready while its recovery stalls, then ready.
                def ready_after_not(name: str = name) -> bool:
                    seen.append(group.readyz(name))
                    return seen[-1][0] == 200 and any(s == 503 for s, _ in seen)

                wait_until(ready_after_not, 120, f"{name} not ready, then ready")
            group.wait_ready(name)
        pump.wait_sent(4)
    finally:
        txs = pump.stop()
    assert not pump.errors

    # Readiness: 503 while it recovered, then 200. The stall itself is proved by the watch's
    # counter and its warning: the readiness reason that names it lasts only from the stall's
    # detection to the restarted recovery's end (often under a sample's 0.3 s); the reason's
    # wording is the unit tests' (tests/unit/test_readiness.py).
    reasons = [r for s, body in seen if s == 503 and body for r in body["reasons"]]
    assert reasons, seen
    url = group.url(first)
    assert metric(url, "blockhook_recovery_stalls_total") >= 1
    # Every store that was ahead and assigned again was dropped and rebuilt, with a warning
    # (counted since this process started, which was here).
    rebuilt = metric(url, "blockhook_table_rebuilds_total", reason="ahead")
    log = group.log(first).read_bytes()[log_from:].decode()
    warned = re.findall(r"table (\w+) partition (\d+): local store at offset (\d+) is ahead", log)
    assert rebuilt >= 1 and len(warned) >= rebuilt, (rebuilt, warned)
    tables = group.data_dir(first) / "v1" / "tables"
    for table, partition, _ in warned:
        store = f"{table}-{partition}.db"
        assert (tables / store / "IDENTITY").read_text() != identities[store], store
    assert "ConsistencyError" not in log
    assert "table recovery made no progress" in log, "the stall watch did not notice the stall"
    assert "starting it again" in log

    for wid in withdrawals:
        assert custody.until(wid, "confirmed")["status"] == "confirmed"
    assert nonce(rpc, custody.treasury) == nonce_before + len(withdrawals)
    settle(group, hooks, addresses, txs)
