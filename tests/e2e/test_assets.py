"""Every asset kind and monitor option on a real node: ERC721, ERC1155 single and batch,
direction in/out/both, the tokens filter, min_amount, every_confirmation and assets.

All scenarios run as one batch to keep the file fast: every monitor is created first (each on
fresh addresses and its own webhook path), then every transaction is sent (anvil mines a block
per transaction), then a few empty blocks confirm them; the tests then read what each path got.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.conftest import api
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e

FUNDER = ct.ANVIL_ACCOUNTS[0]
HOLDER = ct.ANVIL_ACCOUNTS[1]  # holds the NFT and the ERC1155 tokens before they move
REQUIRED = 3  # the stack's default confirmations
THRESHOLD = ["transfer.seen", "transfer.confirmed"]
NFT_ID = 2**200 + 5  # larger than any float: must travel as a decimal string
MULTI_IDS = (7, 2**160 + 1, 9)


def fresh() -> str:
    """A random, never-used address."""
    return "0x" + os.urandom(20).hex()


@dataclass
class World:
    """What the batch set up: contracts, watched addresses, tx hashes, and the receiver."""

    rx: Receiver
    rpc: str
    nft: str = ""
    multi: str = ""
    token_a: str = ""
    token_b: str = ""
    addr: dict[str, str] = field(default_factory=dict)
    tx: dict[str, str] = field(default_factory=dict)
    monitors: dict[str, dict[str, Any]] = field(default_factory=dict)

    def events(self, name: str) -> list[dict[str, Any]]:
        """Events received on the webhook path of the monitor called name."""
        return self.rx.events("/" + name)

    def of(self, name: str, tx: str) -> list[dict[str, Any]]:
        """Events of one scenario's monitor for one of the batch's transactions."""
        return [e for e in self.events(name) if e["tx_hash"] == self.tx[tx]]


def _monitor(stack: DevStack, w: World, name: str, addresses: list[str], **extra: Any) -> None:
    body = {
        "name": name,
        "chain": "local",
        "addresses": addresses,
        "webhook": {"url": f"{w.rx.url}/{name}"},
        **extra,
    }
    status, m = api(stack, "POST", "/v1/monitors", body)
    assert status == 201, m
    w.monitors[name] = m


# Per monitor: the (tx, direction, final types) it must get, and nothing else.
def _expected(w: World) -> dict[str, list[tuple[str, str, list[str]]]]:
    every = ["transfer.seen", "transfer.confirming", "transfer.confirmed"]
    return {
        "nft": [("nft", "in", THRESHOLD)],
        "multi": [("multi_single", "in", THRESHOLD)] + [("multi_batch", "in", THRESHOLD)] * 2,
        "dir_in": [("dir_in", "in", THRESHOLD), ("dir_self", "in", THRESHOLD)],
        "dir_out": [("dir_out", "out", THRESHOLD), ("dir_self", "out", THRESHOLD)],
        "dir_both": [
            ("dir_in", "in", THRESHOLD),
            ("dir_out", "out", THRESHOLD),
            ("dir_self", "in", THRESHOLD),
            ("dir_self", "out", THRESHOLD),
        ],
        "tokens": [("tok_a", "in", THRESHOLD), ("tok_native", "in", THRESHOLD)],
        "min": [("min_eq", "in", THRESHOLD), ("min_above", "in", THRESHOLD)],
        "every": [("every", "in", every)],
        "assets": [("assets_erc20", "in", THRESHOLD)],
    }


def _wanted(w: World) -> dict[str, Counter[tuple[str, str, str]]]:
    """Per monitor: a multiset of (tx hash, direction, type) it must receive exactly."""
    out: dict[str, Counter[tuple[str, str, str]]] = {}
    for name, items in _expected(w).items():
        c: Counter[tuple[str, str, str]] = Counter()
        for tx, side, types in items:
            for t in types:
                c[(w.tx[tx], side, t)] += 1
        out[name] = c
    return out


def _got(w: World, name: str) -> Counter[tuple[str, str, str]]:
    return Counter((e["tx_hash"], e["direction"], e["type"]) for e in w.events(name))


@pytest.fixture(scope="module")
def world(stack: DevStack) -> Iterator[World]:
    rpc = stack.cfg.rpc_url
    w = World(rx=Receiver().start(), rpc=rpc)
    try:
        _setup(stack, w)
        _send(w)
        wanted = _wanted(w)
        w.rx.wait_for(
            lambda _evs: all(_got(w, n) >= c for n, c in wanted.items()),
            timeout_s=90,
        )
        time.sleep(2)  # anything extra (a wrong event) would arrive by now
        yield w
    finally:
        w.rx.stop()


def _setup(stack: DevStack, w: World) -> None:
    rpc = w.rpc
    w.nft = ct.deploy_nft(rpc, FUNDER)
    w.multi = ct.deploy_multi(rpc, FUNDER)
    w.token_a = ct.deploy_token(rpc, FUNDER)
    w.token_b = ct.deploy_token(rpc, FUNDER)
    ct.mint(rpc, w.token_a, FUNDER, FUNDER, 10**12)
    ct.mint(rpc, w.token_b, FUNDER, FUNDER, 10**12)
    ct.wait_success(rpc, ct.nft_mint(rpc, w.nft, FUNDER, HOLDER, NFT_ID))
    ids = list(MULTI_IDS)
    ct.wait_success(rpc, ct.multi_mint_batch(rpc, w.multi, FUNDER, HOLDER, ids, [100] * 3))

    a = w.addr
    for name in ("nft", "multi", "dir", "dir_peer", "tokens", "min", "every", "assets"):
        a[name] = fresh()
    ct.impersonate(rpc, a["dir"])  # so the watched address can send (direction out)

    _monitor(stack, w, "nft", [a["nft"]])
    _monitor(stack, w, "multi", [a["multi"]])
    _monitor(stack, w, "dir_in", [a["dir"]], direction="in")
    _monitor(stack, w, "dir_out", [a["dir"]], direction="out")
    _monitor(stack, w, "dir_both", [a["dir"]], direction="both")
    _monitor(stack, w, "tokens", [a["tokens"]], tokens=[w.token_a.upper().replace("0X", "0x")])
    _monitor(stack, w, "min", [a["min"]], min_amount="1000")
    _monitor(stack, w, "every", [a["every"]], notify="every_confirmation")
    _monitor(stack, w, "assets", [a["assets"]], assets=["erc20"])


def _send(w: World) -> None:
    rpc, a, t = w.rpc, w.addr, w.tx
    t["nft"] = ct.nft_transfer(rpc, w.nft, HOLDER, a["nft"], NFT_ID)
    t["multi_single"] = ct.multi_transfer(rpc, w.multi, HOLDER, a["multi"], MULTI_IDS[0], 5)
    t["multi_batch"] = ct.multi_batch_transfer(
        rpc, w.multi, HOLDER, a["multi"], list(MULTI_IDS[1:]), [6, 7]
    )
    t["dir_in"] = ct.send_eth(rpc, FUNDER, a["dir"], 1_000)
    t["dir_out"] = ct.send_eth(rpc, a["dir"], a["dir_peer"], 300)
    t["dir_self"] = ct.send_eth(rpc, a["dir"], a["dir"], 50)
    t["tok_a"] = ct.token_transfer(rpc, w.token_a, FUNDER, a["tokens"], 11)
    t["tok_b"] = ct.token_transfer(rpc, w.token_b, FUNDER, a["tokens"], 12)
    t["tok_native"] = ct.send_eth(rpc, FUNDER, a["tokens"], 13)
    t["min_below"] = ct.send_eth(rpc, FUNDER, a["min"], 999)
    t["min_eq"] = ct.send_eth(rpc, FUNDER, a["min"], 1_000)
    t["min_above"] = ct.send_eth(rpc, FUNDER, a["min"], 10**18)
    t["every"] = ct.send_eth(rpc, FUNDER, a["every"], 1)
    t["assets_native"] = ct.send_eth(rpc, FUNDER, a["assets"], 21)
    t["assets_erc20"] = ct.token_transfer(rpc, w.token_a, FUNDER, a["assets"], 22)
    for tx in t.values():
        ct.wait_success(rpc, tx)
    ct.mine(rpc, REQUIRED)


def _by_type(evs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {e["type"]: e for e in evs}
    assert len(out) == len(evs), [e["type"] for e in evs]
    return out


def test_each_monitor_gets_exactly_its_events(world: World) -> None:
    for name, wanted in _wanted(world).items():
        assert _got(world, name) == wanted, name
    ids = [e["id"] for n in _expected(world) for e in world.events(n)]
    assert len(ids) == len(set(ids)), "one event id for two events"


def test_erc721_transfer(world: World) -> None:
    evs = _by_type(world.of("nft", "nft"))
    for typ, confs in (("transfer.seen", 1), ("transfer.confirmed", REQUIRED)):
        e = evs[typ]
        assert e["asset"]["kind"] == "erc721"
        assert e["asset"]["contract"] == world.nft
        assert e["asset"]["token_id"] == str(NFT_ID)
        assert e["asset"]["decimals"] is None
        assert e["amount"] == "1"
        assert e["from"] == HOLDER and e["to"] == world.addr["nft"]
        assert e["direction"] == "in"
        assert isinstance(e["log_index"], int)
        assert e["confirmations"] == confs
        assert e["required_confirmations"] == REQUIRED


def test_erc1155_single(world: World) -> None:
    evs = _by_type(world.of("multi", "multi_single"))
    e = evs["transfer.confirmed"]
    assert e["asset"] == {
        "kind": "erc1155",
        "contract": world.multi,
        "symbol": None,
        "decimals": None,
        "token_id": str(MULTI_IDS[0]),
    }
    assert e["amount"] == "5"
    assert e["from"] == HOLDER and e["to"] == world.addr["multi"]
    assert evs["transfer.seen"]["log_index"] == e["log_index"]


def test_erc1155_batch_gives_one_event_per_pair(world: World) -> None:
    evs = world.of("multi", "multi_batch")
    confirmed = [e for e in evs if e["type"] == "transfer.confirmed"]
    pairs = sorted((int(e["asset"]["token_id"]), e["amount"]) for e in confirmed)
    assert pairs == [(MULTI_IDS[2], "7"), (MULTI_IDS[1], "6")]
    assert {e["log_index"] for e in evs} == {confirmed[0]["log_index"]}
    assert {e["block_hash"] for e in evs} == {confirmed[0]["block_hash"]}
    assert all(e["asset"]["contract"] == world.multi for e in evs)
    assert len({e["id"] for e in evs}) == 4


def test_direction_in_out_both(world: World) -> None:
    a, t = world.addr, world.tx
    for name in ("dir_in", "dir_out", "dir_both"):
        for e in world.events(name):
            assert (e["from"], e["to"]) in {
                (FUNDER, a["dir"]),
                (a["dir"], a["dir_peer"]),
                (a["dir"], a["dir"]),
            }
    out = _by_type(world.of("dir_out", "dir_out"))["transfer.confirmed"]
    assert out["direction"] == "out" and out["from"] == a["dir"] and out["amount"] == "300"
    # A transfer to itself is one event per side for `both`, with different ids.
    both_self = [e for e in world.events("dir_both") if e["tx_hash"] == t["dir_self"]]
    assert sorted((e["direction"], e["type"]) for e in both_self) == [
        ("in", "transfer.confirmed"),
        ("in", "transfer.seen"),
        ("out", "transfer.confirmed"),
        ("out", "transfer.seen"),
    ]
    assert len({e["id"] for e in both_self}) == 4
    # The same transfer seen by two monitors: different ids (one per monitor).
    ids_in = {e["id"] for e in world.of("dir_in", "dir_in")}
    ids_both = {e["id"] for e in world.of("dir_both", "dir_in")}
    assert ids_in and ids_both and not ids_in & ids_both


def test_tokens_filter(world: World) -> None:
    assert world.of("tokens", "tok_b") == []
    tok = _by_type(world.of("tokens", "tok_a"))["transfer.confirmed"]
    assert tok["asset"]["contract"] == world.token_a and tok["amount"] == "11"
    native = _by_type(world.of("tokens", "tok_native"))["transfer.confirmed"]
    assert native["asset"]["kind"] == "native"


def test_min_amount(world: World) -> None:
    assert world.of("min", "min_below") == []
    assert _by_type(world.of("min", "min_eq"))["transfer.confirmed"]["amount"] == "1000"
    assert _by_type(world.of("min", "min_above"))["transfer.confirmed"]["amount"] == str(10**18)


def test_every_confirmation(world: World) -> None:
    evs = world.of("every", "every")
    got = sorted((e["confirmations"], e["type"], e["credited"]) for e in evs)
    assert got == [
        (1, "transfer.seen", False),
        (2, "transfer.confirming", False),
        (3, "transfer.confirmed", True),
    ]
    assert all(e["required_confirmations"] == REQUIRED for e in evs)
    assert len({e["id"] for e in evs}) == 3


def test_assets_filter(world: World) -> None:
    assert world.of("assets", "assets_native") == []
    tok = _by_type(world.of("assets", "assets_erc20"))["transfer.confirmed"]
    assert tok["asset"]["kind"] == "erc20" and tok["amount"] == "22"
