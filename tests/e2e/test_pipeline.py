"""End to end on real parts: API → monitors topic → worker → anvil blocks → signed webhooks."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from standardwebhooks import Webhook

from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.conftest import api
from tests.e2e.receiver import Receiver
from tests.e2e.traffic import Pump, confirmed_once_each, events_on_topic, wait_until

TOPIC_EVENTS = "blockhook.events"

pytestmark = pytest.mark.e2e

FUNDER = ct.ANVIL_ACCOUNTS[0]


def fresh_address(n: int) -> str:
    """A never-used address (not one of anvil's funded accounts)."""
    return "0x" + f"{int(time.time() * 1000) % 10**12:012x}{n:04x}".rjust(40, "b")


def create_monitor(
    stack: DevStack, receiver: Receiver, addresses: list[str], **extra: Any
) -> dict[str, Any]:
    body = {
        "chain": "local",
        "addresses": addresses,
        "webhook": {"url": receiver.url + "/hook"},
        **extra,
    }
    status, m = api(stack, "POST", "/v1/monitors", body)
    assert status == 201, m
    return m


def by_tx(events: list[dict[str, Any]], tx: str) -> list[str]:
    return [e["type"] for e in events if e["tx_hash"] == tx]


def test_transfers_to_watched_address_are_delivered_signed_in_order(
    stack: DevStack, receiver: Receiver
) -> None:
    rpc = stack.cfg.rpc_url
    watched, unwatched = fresh_address(1), fresh_address(2)
    token = ct.deploy_token(rpc, FUNDER)
    ct.mint(rpc, token, FUNDER, FUNDER, 10**12)
    mon = create_monitor(stack, receiver, [watched.upper().replace("0X", "0x"), token])
    assert mon["addresses"] == [watched, token]
    assert mon["webhook"]["secret"].startswith("whsec_")

    eth_tx = ct.send_eth(rpc, FUNDER, watched, 10**18 + 7)
    tok_tx = ct.token_transfer(rpc, token, FUNDER, watched, 1_500_000)
    other_tx = ct.send_eth(rpc, FUNDER, unwatched, 5)
    failed_tx = ct.FailingCall(rpc, token, ct.ANVIL_ACCOUNTS[2], watched).run()["transactionHash"]
    # ETH sent to the token contract (watched too) reverts: no payable fallback.
    failed_eth = ct.send_tx(rpc, FUNDER, token, value=10**15, gas=100_000)
    assert not ct.succeeded(ct.wait_receipt(rpc, failed_eth))
    ct.mine(rpc, 3)

    events = receiver.wait_for(
        lambda evs: (
            by_tx(evs, eth_tx) == ["transfer.seen", "transfer.confirmed"]
            and by_tx(evs, tok_tx) == ["transfer.seen", "transfer.confirmed"]
        )
    )
    time.sleep(2)  # anything wrong (extra events) would arrive by now
    events = receiver.events()
    assert by_tx(events, eth_tx) == ["transfer.seen", "transfer.confirmed"]
    assert by_tx(events, tok_tx) == ["transfer.seen", "transfer.confirmed"]
    assert by_tx(events, other_tx) == []
    assert by_tx(events, failed_tx) == []
    assert by_tx(events, failed_eth) == []
    assert len(events) == 4

    eth = [e for e in events if e["tx_hash"] == eth_tx]
    assert eth[0]["amount"] == str(10**18 + 7)
    assert eth[0]["asset"] == {
        "kind": "native",
        "contract": None,
        "symbol": "ETH",
        "decimals": 18,
        "token_id": None,
    }
    assert [e["confirmations"] for e in eth] == [1, 3]
    assert [e["credited"] for e in eth] == [False, True]
    assert all(e["to"] == watched and e["direction"] == "in" for e in eth)
    tok = [e for e in events if e["tx_hash"] == tok_tx]
    assert tok[1]["amount"] == "1500000"
    assert tok[1]["asset"] == {
        "kind": "erc20",
        "contract": token,
        "symbol": "TST",
        "decimals": 6,
        "token_id": None,
    }
    assert tok[1]["required_confirmations"] == 3
    assert isinstance(tok[1]["log_index"], int)

    wh = Webhook(mon["webhook"]["secret"])
    for r in receiver.received:
        assert r.headers["webhook-id"] == r.event["id"]
        wh.verify(r.body, r.headers)  # raises on a bad signature


def test_worker_restart_misses_nothing(stack: DevStack, receiver: Receiver) -> None:
    """Also for an address of a long list: one past the record's 10,000, in a chunk on
    monitors.addresses (the restarted worker's filter, index and view read it back)."""
    rpc = stack.cfg.rpc_url
    watched = fresh_address(3)
    in_chunk = fresh_address(4)
    filler = [f"0x{'cd' * 17}{i:06x}" for i in range(9_999)]
    mon = create_monitor(stack, receiver, [watched, *filler, in_chunk])
    assert mon["addresses"][-1] == in_chunk and len(mon["addresses"]) == 10_001
    before = ct.send_eth(rpc, FUNDER, watched, 11)
    receiver.wait_for(lambda evs: by_tx(evs, before) == ["transfer.seen"])

    stack.stop_worker()
    during = [ct.send_eth(rpc, FUNDER, watched, 100 + i) for i in range(3)]
    during.append(ct.send_eth(rpc, FUNDER, in_chunk, 200))
    ct.mine(rpc, 2)
    stack.start_worker()
    stack.wait_ready()
    ct.mine(rpc, 3)
    after = ct.send_eth(rpc, FUNDER, in_chunk, 201)
    ct.mine(rpc, 3)

    want = [before, *during, after]
    evs = receiver.wait_for(
        lambda evs: all(by_tx(evs, t)[-1:] == ["transfer.confirmed"] for t in want)
    )
    for t in during:
        assert by_tx(evs, t) in (["transfer.confirmed"], ["transfer.seen", "transfer.confirmed"])
    amounts = sorted(int(e["amount"]) for e in evs if e["type"] == "transfer.confirmed")
    assert amounts == [11, 100, 101, 102, 200, 201]
    status, whole = api(stack, "GET", f"/v1/monitors/{mon['id']}")
    assert status == 200 and whole["addresses"] == mon["addresses"]
    ids = {}
    for e in evs:
        ids.setdefault((e["tx_hash"], e["type"]), set()).add(e["id"])
    assert all(len(v) == 1 for v in ids.values()), "an event arrived under two ids"


def test_kill_9_twice_mid_stream_with_production_defaults_loses_and_doubles_nothing(
    stack: DevStack, receiver: Receiver
) -> None:
    """The stack runs with the production defaults (no group or recovery settings of its
    own). Transfers keep coming while the worker is killed with SIGKILL twice and restarted
    with the same settings file: every transfer is confirmed, on the webhook and on the
    events topic, and no state of a transfer comes under two event ids."""
    config = stack.config_path.read_text()
    for dev_only in ("session_timeout_s", "rebalance_timeout_s", "recovery_consistency_check"):
        assert dev_only not in config
    rpc = stack.cfg.rpc_url
    watched = [fresh_address(100 + i) for i in range(20)]
    create_monitor(stack, receiver, watched)
    pump = Pump(rpc, FUNDER, watched).start()
    try:
        for _ in range(2):
            pump.wait_sent(6)
            stack.kill_worker()  # SIGKILL: no clean shutdown, offsets and tables as they were
            stack.start_worker()
            stack.wait_ready()
        pump.wait_sent(6)
    finally:
        txs = pump.stop()
    ct.mine(rpc, 3)
    assert len(txs) >= 18 and not pump.errors
    evs = receiver.wait_for(lambda evs: not confirmed_once_each(evs, txs), timeout_s=90)
    assert confirmed_once_each(evs, txs) == []
    amounts = sorted(int(e["amount"]) for e in evs if e["type"] == "transfer.confirmed")
    assert sorted(set(amounts)) == sorted(1_000 + i for i in range(len(txs)))
    bootstrap = f"127.0.0.1:{stack.cfg.broker_port}"
    wait_until(
        lambda: not confirmed_once_each(events_on_topic(bootstrap, TOPIC_EVENTS, watched), txs),
        60,
        "every transfer confirmed on the events topic",
    )
    assert confirmed_once_each(events_on_topic(bootstrap, TOPIC_EVENTS, watched), txs) == []


def test_failing_endpoint_is_retried_with_the_same_webhook_id(
    stack: DevStack, receiver: Receiver
) -> None:
    rpc = stack.cfg.rpc_url
    watched = fresh_address(5)
    failures = {"n": 0}

    def status_for(path: str) -> int:
        if path == "/flaky" and failures["n"] < 2:
            failures["n"] += 1
            return 503
        return 200

    receiver.status_for = status_for
    body = {
        "chain": "local",
        "addresses": [watched],
        "confirmations": 1,
        "webhook": {"url": receiver.url + "/flaky"},
        "retry": {"delays_s": [1, 1, 1]},
    }
    status, _ = api(stack, "POST", "/v1/monitors", body)
    assert status == 201
    tx = ct.send_eth(rpc, FUNDER, watched, 42)
    receiver.wait_for(lambda evs: len(evs) >= 3, path="/flaky")
    time.sleep(2)
    hits = [r for r in receiver.received if r.path == "/flaky"]
    assert len(hits) == 3  # two 503s, then the 200: no more after success
    assert {r.headers["webhook-id"] for r in hits} == {hits[0].event["id"]}
    assert [r.event["type"] for r in hits] == ["transfer.confirmed"] * 3
    assert hits[0].event["tx_hash"] == tx
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
    assert all(g >= 0.9 for g in gaps), gaps
