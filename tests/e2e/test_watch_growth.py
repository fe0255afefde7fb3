"""Addresses added while blocks stream: every block after an add's acceptance is matched."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.conftest import api
from tests.e2e.receiver import Receiver
from tests.e2e.test_pipeline import FUNDER

pytestmark = pytest.mark.e2e

PER_BATCH = 12  # transfers sent after each accepted batch of 20 addresses, at most


def test_thousand_addresses_added_in_batches_while_mining(
    stack: DevStack, receiver: Receiver
) -> None:
    rpc = stack.cfg.rpc_url
    base = random.Random(42).randrange(1 << 100)
    addresses = [f"0x{base + i:040x}" for i in range(1000)]
    status, mon = api(
        stack,
        "POST",
        "/v1/monitors",
        {
            "chain": "local",
            "addresses": [],
            "confirmations": 1,
            "webhook": {"url": receiver.url + "/grow"},
        },
    )
    assert status == 201
    accepted: list[str] = []
    sent: list[tuple[str, str]] = []  # (tx, address) sent after the address was accepted
    stop = threading.Event()
    errors: list[BaseException] = []

    def traffic() -> None:
        rng = random.Random(7)
        try:
            while not stop.is_set():
                if accepted and len(sent) < PER_BATCH * (len(accepted) // 20):
                    # prefer the newest batch: the race with the add is what is tested
                    pool = accepted[-20:] if rng.random() < 0.7 else accepted
                    to = rng.choice(pool)
                    sent.append((ct.send_eth(rpc, ct.ANVIL_ACCOUNTS[3], to, 1), to))
                    time.sleep(0.01)
                else:
                    # blocks keep coming while an add is in flight; the transfers are paced
                    # by the adds, or on a busy machine they outrun the stack and the test
                    # measures the backlog instead of the race
                    ct.mine(rpc, 1)
                    time.sleep(0.1)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    try:
        for i in range(0, len(addresses), 20):
            batch = addresses[i : i + 20]
            status, out = api(stack, "PATCH", f"/v1/monitors/{mon['id']}", {"add_addresses": batch})
            assert status == 200, out
            accepted.extend(batch)  # accepted now: any later block must match
    finally:
        time.sleep(0.5)
        stop.set()
        t.join(30)
    assert not errors, errors
    assert len(accepted) == 1000 and len(sent) > 100, len(sent)
    want = {tx for tx, _ in sent}
    evs = receiver.wait_for(
        lambda e: want <= {x["tx_hash"] for x in e}, timeout_s=120, path="/grow"
    )
    got = {e["tx_hash"]: e for e in evs}
    for tx, to in sent:
        assert got[tx]["to"] == to and got[tx]["type"] == "transfer.confirmed"
    status, final = api(stack, "GET", f"/v1/monitors/{mon['id']}")
    assert status == 200 and set(final["addresses"]) == set(addresses)
    _ = FUNDER


def test_a_million_addresses_added_while_blocks_flow(stack: DevStack, receiver: Receiver) -> None:
    """1M addresses arrive while a watched address keeps receiving: 25 monitors of 20,000
    (each as large as a request may be: its record and a chunk) and one monitor grown by 25
    PATCHes of 20,000 (chunks of 10,000 on monitors.addresses). No hit is missed before,
    during or after; each new monitor or added batch matches from the moment its request is
    answered. Then addresses removed from the grown list stop matching, and all is deleted."""
    rpc = stack.cfg.rpc_url
    rng = random.Random(1_000_000)
    hook = {"url": receiver.url + "/million"}
    old = f"0x{rng.randrange(1 << 160):040x}"
    status, first = api(
        stack,
        "POST",
        "/v1/monitors",
        {"chain": "local", "addresses": [old], "confirmations": 1, "webhook": hook},
    )
    assert status == 201, first
    status, grown = api(
        stack, "POST", "/v1/monitors", {"chain": "local", "confirmations": 1, "webhook": hook}
    )
    assert status == 201, grown
    sent: list[tuple[str, str]] = []  # (tx, to)
    stop = threading.Event()
    errors: list[BaseException] = []

    def steady() -> None:  # the address watched all along: before, during and after
        try:
            while not stop.is_set():
                sent.append((ct.send_eth(rpc, ct.ANVIL_ACCOUNTS[4], old, 1), old))
                time.sleep(0.05)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=steady, daemon=True)
    t.start()
    created: list[str] = [grown["id"]]
    grown_fresh: list[str] = []
    try:
        time.sleep(0.5)  # hits before the growth
        for i in range(50):
            batch = [f"0x{rng.randrange(1 << 160):040x}" for _ in range(20_000)]
            if i % 2:
                status, mon = api(
                    stack, "PATCH", f"/v1/monitors/{grown['id']}", {"add_addresses": batch}
                )
                assert status == 200, mon
            else:
                body = {"chain": "local", "addresses": batch, "confirmations": 1, "webhook": hook}
                status, mon = api(stack, "POST", "/v1/monitors", body)
                assert status == 201, mon
                created.append(mon["id"])
            fresh = rng.choice(batch)  # answered: its next block must match
            sent.append((ct.send_eth(rpc, ct.ANVIL_ACCOUNTS[2], fresh, 1), fresh))
            if i % 2:
                grown_fresh.append(fresh)
        time.sleep(0.5)  # hits after it
    finally:
        stop.set()
        t.join(30)
    assert not errors, errors
    n_steady = sum(1 for _, to in sent if to == old)
    assert n_steady > 20 and len(sent) - n_steady == 50
    want = {tx for tx, _ in sent}
    evs = receiver.wait_for(
        lambda e: want <= {x["tx_hash"] for x in e if x["type"] == "transfer.confirmed"},
        timeout_s=180,
        path="/million",
    )
    got = {e["tx_hash"]: e for e in evs if e["type"] == "transfer.confirmed"}
    for tx, to in sent:
        assert got[tx]["to"] == to
    # The grown list reads back as a count (too long to inline) and a page at a time.
    status, whole = api(stack, "GET", f"/v1/monitors/{grown['id']}")
    assert status == 200 and whole["addresses_truncated"] is True, whole.get("address_count")
    assert whole["address_count"] == 25 * 20_000 and whole["addresses"] == []
    status, page = api(stack, "GET", f"/v1/monitors/{grown['id']}/addresses?limit=1000")
    assert status == 200 and len(page["items"]) == 1000 and page["cursor"] == page["items"][-1]
    assert page["items"] == sorted(page["items"])
    # Removed from the grown list: a transfer to one is not an event, checked after a
    # transfer to a watched address sent later has arrived.
    status, out = api(
        stack, "PATCH", f"/v1/monitors/{grown['id']}", {"remove_addresses": grown_fresh}
    )
    assert status == 200 and out["address_count"] == 25 * 20_000 - 25, out.get("address_count")
    gone_tx = ct.send_eth(rpc, ct.ANVIL_ACCOUNTS[2], grown_fresh[0], 1)
    ct.wait_receipt(rpc, gone_tx)  # mined before the marker
    marker = ct.send_eth(rpc, ct.ANVIL_ACCOUNTS[4], old, 1)
    evs = receiver.wait_for(
        lambda e: marker in {x["tx_hash"] for x in e if x["type"] == "transfer.confirmed"},
        timeout_s=60,
        path="/million",
    )
    assert gone_tx not in {e["tx_hash"] for e in evs}
    for mid in created:
        status, _ = api(stack, "DELETE", f"/v1/monitors/{mid}")
        assert status == 204
    deadline = time.monotonic() + 30
    while True:  # the view folds the tombstones just after the deletions are applied
        status, page = api(stack, "GET", "/v1/monitors?limit=500")
        left = set(created) & {m["id"] for m in page["items"]}
        if (status == 200 and not left) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200 and not left, left


def test_concurrent_edits_of_one_long_list_lose_nothing(
    stack: DevStack, receiver: Receiver
) -> None:
    """Six clients add to one long list at once, 4 requests of 2,000 each, while a seventh
    removes: their chunk writes collide (each fills the last chunk), and a write made from
    a stale copy is refused by the worker and made again. Every added address is in the
    list afterwards, once, the removed ones are not, and the worker matches them."""
    rng = random.Random(6)
    rpc = stack.cfg.rpc_url
    first = [f"0x{rng.randrange(1 << 160):040x}" for _ in range(10_500)]
    status, mon = api(
        stack,
        "POST",
        "/v1/monitors",
        {
            "chain": "local",
            "addresses": first,
            "confirmations": 1,
            "webhook": {"url": receiver.url + "/concurrent"},
        },
    )
    assert status == 201, mon
    path = f"/v1/monitors/{mon['id']}"
    batches = [[f"0x{rng.randrange(1 << 160):040x}" for _ in range(2_000)] for _ in range(24)]
    removed = first[-300:]

    def add(batch: list[str]) -> int:
        status, out = api(stack, "PATCH", path, {"add_addresses": batch})
        assert status == 200, out
        return status

    def remove() -> int:
        status, out = api(stack, "PATCH", path, {"remove_addresses": removed})
        assert status == 200, out
        return status

    with ThreadPoolExecutor(7) as pool:
        futures = [pool.submit(add, b) for b in batches] + [pool.submit(remove)]
        assert [f.result() for f in futures] == [200] * 25
    want = (set(first) - set(removed)) | {a for b in batches for a in b}
    listed: list[str] = []
    cursor = ""
    while True:
        status, page = api(stack, "GET", f"{path}/addresses?limit=1000&cursor={cursor}")
        assert status == 200, page
        listed += page["items"]
        if page["cursor"] is None:
            break
        cursor = page["cursor"]
    assert len(listed) == len(set(listed)) and set(listed) == want
    status, whole = api(stack, "GET", path)
    assert status == 200 and whole["address_count"] == len(want)
    sample = [rng.choice(b) for b in rng.sample(batches, 3)]
    txs = {ct.send_eth(rpc, FUNDER, to, 1): to for to in sample}
    evs = receiver.wait_for(
        lambda e: set(txs) <= {x["tx_hash"] for x in e}, timeout_s=60, path="/concurrent"
    )
    assert {e["tx_hash"]: e["to"] for e in evs if e["tx_hash"] in txs} == txs
