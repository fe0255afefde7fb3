"""Wallets end to end: xpub registration, one address per customer (concurrency, restart),
monitors over wallets, events with user_ref, balances and a reorg."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from bip_utils import Base58Decoder, Base58Encoder, Bip39SeedGenerator, Bip44, Bip44Coins
from eth_account import Account

from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.conftest import api
from tests.e2e.receiver import Receiver
from tests.e2e.test_pipeline import FUNDER, by_tx
from tests.e2e.traffic import wait_until

pytestmark = pytest.mark.e2e

MNEMONIC = "test test test test test test test test test test test junk"


def account_key(account: int, private: bool = False) -> str:
    seed = Bip39SeedGenerator(MNEMONIC).Generate()
    acc = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(account)
    return str((acc.PrivateKey() if private else acc.PublicKey()).ToExtended())


def oracle(account: int, index: int) -> str:
    Account.enable_unaudited_hdwallet_features()
    path = f"m/44'/60'/{account}'/0/{index}"
    return str(Account.from_mnemonic(MNEMONIC, account_path=path).address).lower()


def register(stack: DevStack, account: int, label: str = "") -> dict[str, Any]:
    status, w = api(
        stack,
        "POST",
        "/v1/wallets",
        {"chain": "local", "xpub": account_key(account), "label": label},
    )
    assert status in (200, 201), w
    return w


def assign(stack: DevStack, wallet_id: str, user_ref: str) -> dict[str, Any]:
    status, a = api(stack, "POST", f"/v1/wallets/{wallet_id}/addresses", {"user_ref": user_ref})
    assert status == 200, a
    return a


def balances(stack: DevStack, query: str) -> dict[str, Any]:
    status, b = api(stack, "GET", f"/v1/balances?{query}")
    assert status == 200, b
    return b


def amounts(b: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(i["user_ref"], i["asset"]["kind"]): i["amount"] for i in b["items"]}


def test_register_wallet(stack: DevStack) -> None:
    xpub = account_key(6)
    status, w = api(stack, "POST", "/v1/wallets", {"chain": "local", "xpub": xpub, "label": "hot"})
    assert status == 201, w
    assert w["id"].startswith("wal_") and w["xpub"] == xpub and w["label"] == "hot"
    assert w["account"] == 6 and w["path"] == "m/44'/60'/6'"
    assert w["address_path"] == "m/44'/60'/6'/0/{index}"
    # the same key again is the same wallet (no second counter over the same addresses)
    status, again = api(stack, "POST", "/v1/wallets", {"chain": "local", "xpub": xpub})
    assert status == 200 and again["id"] == w["id"]
    status, got = api(stack, "GET", f"/v1/wallets/{w['id']}")
    assert status == 200 and got == w
    status, mon = api(stack, "GET", f"/v1/monitors/{w['monitor_id']}")
    assert status == 200 and mon["wallet_ids"] == [w["id"]] and mon["addresses"] == []
    status, listed = api(stack, "GET", "/v1/wallets?limit=1000")
    assert status == 200 and w["id"] in [x["id"] for x in listed["items"]]


def _err(status: int, body: Any) -> tuple[int, str, str | None]:
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return status, body["error"]["code"], body["error"]["field"]


def test_bad_input(stack: DevStack) -> None:
    xpub = account_key(6)
    xprv = account_key(6, private=True)
    tpub = str(
        Base58Encoder.CheckEncode(bytes.fromhex("043587cf") + Base58Decoder.CheckDecode(xpub)[4:])
    )
    cases: list[tuple[dict[str, Any], int, str, str | None]] = [
        ({"chain": "local", "xpub": xprv}, 422, "private_key_refused", "xpub"),
        ({"chain": "local", "xpub": MNEMONIC}, 422, "private_key_refused", "xpub"),
        ({"chain": "local", "xpub": xpub[:-2] + "zz"}, 422, "invalid_xpub", "xpub"),
        ({"chain": "local", "xpub": "xpub-not-a-key"}, 422, "invalid_xpub", "xpub"),
        ({"chain": "local", "xpub": tpub}, 422, "wrong_network", "xpub"),
        ({"chain": "nowhere", "xpub": xpub}, 422, "unknown_chain", "chain"),
        ({"chain": "local", "xpub": xpub, "xprv": xprv}, 422, "invalid_field", "xprv"),
        ({"chain": "local"}, 422, "invalid_field", "xpub"),
    ]
    for body, want_status, code, field in cases:
        status, resp = api(stack, "POST", "/v1/wallets", body)
        assert _err(status, resp) == (want_status, code, field), (body.keys(), resp)
        assert xprv not in str(resp) and "junk" not in str(resp)
        if code == "private_key_refused":
            assert "private keys are refused" in resp["error"]["message"]
    log = (stack.cfg.root / "logs/worker.log").read_text(errors="replace")
    assert xprv not in log and MNEMONIC not in log, "a secret reached the worker's log"

    w = register(stack, 6)
    bad_refs: list[tuple[Any, str]] = [
        ({"user_ref": ""}, "user_ref"),
        ({"user_ref": "x" * 129}, "user_ref"),
        ({"user_ref": "a\nb"}, "user_ref"),
        ({"user_ref": 42}, "user_ref"),
        ({}, "user_ref"),
    ]
    for body, field in bad_refs:
        status, resp = api(stack, "POST", f"/v1/wallets/{w['id']}/addresses", body)
        assert _err(status, resp)[0] == 422 and resp["error"]["field"] == field, resp
    status, resp = api(stack, "POST", "/v1/wallets/wal_nope/addresses", {"user_ref": "c1"})
    assert _err(status, resp) == (404, "not_found", "id")
    status, resp = api(stack, "GET", "/v1/wallets/wal_nope")
    assert _err(status, resp) == (404, "not_found", "id")
    status, resp = api(stack, "GET", "/v1/balances?wallet_id=wal_nope")
    assert _err(status, resp) == (404, "not_found", "wallet_id")
    status, resp = api(stack, "POST", "/v1/sessions", {"wallet_id": "wal_nope", "user_ref": "c"})
    assert _err(status, resp) == (404, "not_found", "wallet_id")
    status, resp = api(
        stack, "POST", "/v1/sessions", {"wallet_id": w["id"], "user_ref": "c", "amount": "1.5"}
    )
    assert _err(status, resp)[:2] == (422, "invalid_field")
    status, resp = api(
        stack, "POST", "/v1/sessions", {"wallet_id": w["id"], "user_ref": "c", "asset": "BTC"}
    )
    assert _err(status, resp)[:2] == (422, "invalid_field")
    x = "x" * 128
    assert assign(stack, w["id"], x)["user_ref"] == x  # 128 characters is the limit


def test_concurrent_requests_get_one_address_each_and_survive_restart(stack: DevStack) -> None:
    w = register(stack, 2)
    refs = [f"cust-{i}" for i in range(50)]
    requests = refs + refs[::-1]
    with ThreadPoolExecutor(max_workers=100) as pool:
        got = list(pool.map(lambda r: assign(stack, w["id"], r), requests))
    by_ref: dict[str, set[tuple[str, int]]] = {}
    for a in got:
        assert a["wallet_id"] == w["id"]
        by_ref.setdefault(a["user_ref"], set()).add((a["address"], a["index"]))
    assert set(by_ref) == set(refs)
    assert all(len(v) == 1 for v in by_ref.values()), "a user_ref got two addresses"
    first = {r: next(iter(v)) for r, v in by_ref.items()}
    assert len({a for a, _ in first.values()}) == 50
    assert sorted(i for _, i in first.values()) == list(range(50)), "indices have gaps"
    for address, index in list(first.values())[:10]:
        assert address == oracle(2, index)
    a0 = assign(stack, w["id"], refs[0])
    assert a0["path"] == f"m/44'/60'/2'/0/{a0['index']}"

    stack.stop_worker()
    stack.start_worker()
    stack.wait_ready()
    for r in refs:
        a = assign(stack, w["id"], r)
        assert (a["address"], a["index"]) == first[r]
    fresh = assign(stack, w["id"], "after-restart")
    assert fresh["index"] == 50 and fresh["address"] == oracle(2, 50)
    status, listed = api(stack, "GET", f"/v1/wallets/{w['id']}/addresses?limit=1000")
    assert status == 200 and len(listed["items"]) == 51


def test_payments_to_customers_events_balances_and_reorg(
    stack: DevStack, receiver: Receiver
) -> None:
    rpc = stack.cfg.rpc_url
    w = register(stack, 1, "deposits")
    alice = assign(stack, w["id"], "alice")
    bob = assign(stack, w["id"], "bob")
    assert alice["address"] == oracle(1, alice["index"])
    # the monitor is created after the addresses: it covers them too (and future ones)
    status, mon = api(
        stack,
        "POST",
        "/v1/monitors",
        {"chain": "local", "wallet_ids": [w["id"]], "webhook": {"url": receiver.url + "/hook"}},
    )
    assert status == 201, mon
    carol = assign(stack, w["id"], "carol")  # after the monitor
    token = ct.deploy_token(rpc, FUNDER)
    ct.mint(rpc, token, FUNDER, FUNDER, 10**12)
    txs = {
        "a_eth": ct.send_eth(rpc, FUNDER, alice["address"], 10**18),
        "a_tok": ct.token_transfer(rpc, token, FUNDER, alice["address"], 100_000_000),
        "b_eth": ct.send_eth(rpc, FUNDER, bob["address"], 2 * 10**18),
        "b_tok": ct.token_transfer(rpc, token, FUNDER, bob["address"], 250_000_000),
        "c_eth": ct.send_eth(rpc, FUNDER, carol["address"], 3),
    }
    ct.mine(rpc, 3)
    evs = receiver.wait_for(
        lambda evs: all("transfer.confirmed" in by_tx(evs, t) for t in txs.values()), timeout_s=90
    )
    owner = {"a": "alice", "b": "bob", "c": "carol"}
    for name, tx in txs.items():
        mine = [e for e in evs if e["tx_hash"] == tx]
        assert mine and all(e["monitor_id"] == mon["id"] for e in mine)
        assert {(e["wallet_id"], e["user_ref"]) for e in mine} == {(w["id"], owner[name[0]])}

    want = {
        ("alice", "native"): str(10**18),
        ("alice", "erc20"): "100000000",
        ("bob", "native"): str(2 * 10**18),
        ("bob", "erc20"): "250000000",
        ("carol", "native"): "3",
    }
    b = wait_until(
        lambda: (lambda b: b if amounts(b) == want else None)(
            balances(stack, f"wallet_id={w['id']}")
        ),
        what="balances",
    )
    tok = next(i for i in b["items"] if i["asset"]["kind"] == "erc20")
    assert tok["asset"] == {
        "kind": "erc20",
        "contract": token,
        "symbol": "TST",
        "decimals": 6,
        "token_id": None,
    }
    totals = {t["asset"]["kind"]: t["amount"] for t in b["totals"]}
    assert totals == {"native": str(3 * 10**18 + 3), "erc20": "350000000"}
    only_alice = balances(stack, f"wallet_id={w['id']}&user_ref=alice")
    assert amounts(only_alice) == {k: v for k, v in want.items() if k[0] == "alice"}
    page = balances(stack, f"wallet_id={w['id']}&limit=2")
    assert len(page["items"]) == 2 and page["cursor"]

    # a confirmed payment orphaned by a reorg is taken off the balance again
    extra = ct.send_eth(rpc, FUNDER, bob["address"], 5 * 10**15)
    ct.mine(rpc, 2)
    bumped = str(2 * 10**18 + 5 * 10**15)
    wait_until(
        lambda: amounts(balances(stack, f"wallet_id={w['id']}"))[("bob", "native")] == bumped,
        what="the extra payment's credit",
    )
    ct.rpc(rpc, "anvil_reorg", 3, [])
    ct.mine(rpc, 1)
    wait_until(
        lambda: (
            amounts(balances(stack, f"wallet_id={w['id']}"))[("bob", "native")] == str(2 * 10**18)
        ),
        what="the reverted payment's debit",
    )
    assert ct.receipt(rpc, extra) is None
    evs = receiver.wait_for(lambda evs: "transfer.reverted" in by_tx(evs, extra))
    assert by_tx(evs, extra) == ["transfer.seen", "transfer.confirmed", "transfer.reverted"]


def test_cli_bulk_derive_reads_the_wallet_from_kafka(stack: DevStack, tmp_path: Any) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    w = register(stack, 5)
    given = assign(stack, w["id"], "first")
    out = tmp_path / "addrs.jsonl"
    blockhook = Path(sys.executable).with_name("blockhook")
    cmd = [str(blockhook), "wallet", "derive", "--config", str(stack.config_path)]
    cmd += ["--wallet", w["id"], "--count", "1200", "--format", "jsonl", "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "addresses/s" in r.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["index"] for x in rows] == list(range(1200))
    assert rows[given["index"]]["address"] == given["address"]
    assert rows[1199] == {
        "index": 1199,
        "address": oracle(5, 1199),
        "path": "m/44'/60'/5'/0/1199",
    }
    bad = subprocess.run(
        [*cmd[:5], "--wallet", "wal_nope", "--count", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "no wallet wal_nope" in bad.stderr
