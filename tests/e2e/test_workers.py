"""Three workers against the embedded broker: the partitions shared, one follower per chain,
`kill -9` of the follower while blocks, deliveries and withdrawals flow (its partitions and the
chain move to the others), and a rolling restart under load in which the first worker comes
back with every table store pushed ahead of its changelog and a recovery that stalls. Nothing
is lost, no state of a transfer comes under two ids, each withdrawal is one transaction."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dev import chaintools as ct
from tests.e2e.custody import Custody, fresh_address, make_custody
from tests.e2e.group import NAMES, Group
from tests.e2e.receiver import Receiver
from tests.e2e.test_pipeline import FUNDER
from tests.e2e.traffic import (
    Pump,
    confirmed_once_each,
    events_on_topic,
    metric,
    wait_until,
)

pytestmark = pytest.mark.e2e

OFFSET_KEY = b"__faust\x00offset__"
AHEAD_BY = 100_000


@pytest.fixture(scope="module")
def custody(group: Group) -> Iterator[Custody]:
    """A signer and a funded treasury on the group, the signer talking to worker c."""
    c = make_custody(group.stack, signer_url=group.url("c"))
    yield c
    c.signer.stop()


@pytest.fixture()
def hooks() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
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
    evs = hooks.wait_for(lambda evs: not confirmed_once_each(evs, txs), timeout_s=120)
    assert confirmed_once_each(evs, txs) == []
    bootstrap = f"127.0.0.1:{group.stack.cfg.broker_port}"
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

    # Readiness: 503 with the recovery named while it stalled, then 200.
    reasons = [r for s, body in seen if s == 503 and body for r in body["reasons"]]
    assert any(r.startswith("recovery stalled") for r in reasons), reasons
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

    for wid in withdrawals:
        assert custody.until(wid, "confirmed")["status"] == "confirmed"
    assert nonce(rpc, custody.treasury) == nonce_before + len(withdrawals)
    settle(group, hooks, addresses, txs)
