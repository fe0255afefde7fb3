"""Two anvil chains at once, each with its own chain id and confirmation count."""

from __future__ import annotations

import urllib.request

import pytest

from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.conftest import api
from tests.e2e.flaky_rpc import FlakyRpc
from tests.e2e.receiver import Receiver
from tests.e2e.test_pipeline import FUNDER, by_tx, fresh_address

pytestmark = pytest.mark.e2e


def test_two_chains_with_different_confirmations(stack: DevStack, receiver: Receiver) -> None:
    second = stack.cfg.extra_chains[0]
    rpc1, rpc2 = stack.cfg.rpc_url, f"http://127.0.0.1:{second.port}"
    watched = fresh_address(30)
    for chain in ("local", "second"):
        body = {
            "chain": chain,
            "addresses": [watched],
            "webhook": {"url": f"{receiver.url}/{chain}"},
        }
        status, m = api(stack, "POST", "/v1/monitors", body)
        assert status == 201, m
        assert m["confirmations"] == (3 if chain == "local" else 2)
    tx1 = ct.send_eth(rpc1, FUNDER, watched, 31337)
    tx2 = ct.send_eth(rpc2, FUNDER, watched, 31338)
    ct.mine(rpc1, 3)
    ct.mine(rpc2, 3)
    ev1 = receiver.wait_for(
        lambda e: by_tx(e, tx1) == ["transfer.seen", "transfer.confirmed"], path="/local"
    )
    ev2 = receiver.wait_for(
        lambda e: by_tx(e, tx2) == ["transfer.seen", "transfer.confirmed"], path="/second"
    )
    c1 = next(e for e in ev1 if e["type"] == "transfer.confirmed")
    c2 = next(e for e in ev2 if e["type"] == "transfer.confirmed")
    assert (c1["chain"], c1["chain_id"], c1["required_confirmations"], c1["amount"]) == (
        "local",
        31337,
        3,
        "31337",
    )
    assert (c2["chain"], c2["chain_id"], c2["required_confirmations"], c2["amount"]) == (
        "second",
        31338,
        2,
        "31338",
    )
    assert c2["confirmations"] == 2
    assert all(e["chain"] == "local" for e in ev1) and all(e["chain"] == "second" for e in ev2)


def test_flaky_node_behind_a_dead_url_misses_nothing(
    stack: DevStack, receiver: Receiver, flaky_rpc: FlakyRpc
) -> None:
    flaky = next(c for c in stack.cfg.extra_chains if c.name == "flaky")
    rpc = f"http://127.0.0.1:{flaky.port}"  # the test talks to anvil directly
    watched = fresh_address(31)
    body = {"chain": "flaky", "addresses": [watched], "webhook": {"url": f"{receiver.url}/flaky"}}
    assert api(stack, "POST", "/v1/monitors", body)[0] == 201
    txs = [ct.send_eth(rpc, FUNDER, watched, 700 + i) for i in range(12)]
    ct.mine(rpc, 3)
    evs = receiver.wait_for(
        lambda e: all("transfer.confirmed" in by_tx(e, t) for t in txs),
        timeout_s=120,
        path="/flaky",
    )
    confirmed = sorted(int(e["amount"]) for e in evs if e["type"] == "transfer.confirmed")
    assert confirmed == [700 + i for i in range(12)]
    assert all(e["chain_id"] == 31339 for e in evs)
    faults = {k: v for k, v in flaky_rpc.counts.items() if k != "ok" and v}
    assert len(faults) >= 4, f"the proxy should have misbehaved in several ways: {faults}"


def test_reorg_deeper_than_finality_is_loud_and_still_reverts(
    stack: DevStack, receiver: Receiver
) -> None:
    second = next(c for c in stack.cfg.extra_chains if c.name == "second")
    rpc = f"http://127.0.0.1:{second.port}"
    watched = fresh_address(32)
    body = {"chain": "second", "addresses": [watched], "webhook": {"url": f"{receiver.url}/deep"}}
    assert api(stack, "POST", "/v1/monitors", body)[0] == 201
    ct.mine(rpc, second.finality_depth + 2)
    tx = ct.send_eth(rpc, FUNDER, watched, 999)
    ct.mine(rpc, 4)
    receiver.wait_for(lambda e: "transfer.confirmed" in by_tx(e, tx), path="/deep")
    ct.rpc(rpc, "anvil_reorg", second.finality_depth + 2, [])
    ct.mine(rpc, 1)
    evs = receiver.wait_for(lambda e: "transfer.reverted" in by_tx(e, tx), path="/deep")
    assert [e["type"] for e in evs if e["tx_hash"] == tx][-1] == "transfer.reverted"
    with urllib.request.urlopen(stack.cfg.api_url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    assert 'blockhook_deep_reorgs_total{chain="second"}' in text, text
    log = (stack.cfg.root / "logs/worker.log").read_text()
    assert "reorg deeper than" in log
