"""Withdrawals benchmark on a real stack (Tansu, anvil, one worker, the real blockhook-signer):

1. latency from the second approval to `broadcast` (the node has the signed bytes), one
   withdrawal at a time, p50/p99 over --latency withdrawals;
2. a batch of --batch items approved at once: withdrawals prepared, signed, checked and sent
   per second, from the second approval to the last item's `broadcast`;
3. baseline, same run: a bare loop that signs with eth_account and sends with
   eth_sendRawTransaction to the same node (no platform, no signer round trip, no checks).

anvil's automine is switched off after the treasury is funded, so sent transactions wait in
its pool and every record stays at `broadcast` (no receipts muddle the timing). `broadcast`
is timed by a consumer of the withdrawals topic (records carry whole-second times only).

Usage: .venv/bin/python bench/bench_withdrawals.py [--latency 50] [--batch 500] [--json FILE]
Prints its figures; never part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import orjson  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402
from eth_account import Account  # noqa: E402

from dev import chaintools as ct  # noqa: E402
from dev.devstack import DevConfig, DevStack  # noqa: E402
from streams.txbuild import Fees, to_eth_account_tx, unsigned_tx  # noqa: E402

MNEMONIC = "test test test test test test test test test test test junk"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class BroadcastClock:
    """When each withdrawal was first seen at `broadcast` on the withdrawals topic."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self.seen: dict[str, float] = {}
        self.ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> BroadcastClock:
        self._thread.start()
        self.ready.wait(60)
        return self

    def stop(self) -> None:
        self._stop = True
        self._thread.join(10)

    async def _run(self) -> None:
        c = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, fetch_max_wait_ms=10)
        await c.start()
        try:
            self.ready.set()
            while not self._stop:
                batch = await c.getmany(timeout_ms=100)
                now = time.monotonic()
                for records in batch.values():
                    for r in records:
                        rec = orjson.loads(r.value) if r.value else None
                        if rec and rec.get("status") == "broadcast":
                            self.seen.setdefault(str(rec["id"]), now)
        finally:
            await c.stop()

    def wait(self, ids: list[str], timeout_s: float) -> float:
        """The time the last of `ids` was seen at broadcast."""
        deadline = time.monotonic() + timeout_s
        while not all(i in self.seen for i in ids):
            if time.monotonic() > deadline:
                missing = [i for i in ids if i not in self.seen]
                raise TimeoutError(f"{len(missing)} withdrawals never broadcast")
            time.sleep(0.002)
        return max(self.seen[i] for i in ids)


def ok(answer: tuple[int, Any], want: int = 200) -> dict[str, Any]:
    status, body = answer
    assert status == want, (status, body)
    return dict(body)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def bare_loop(rpc: str, n: int) -> dict[str, float]:
    """Sign and send n transfers from anvil's account 1, one after the other."""
    Account.enable_unaudited_hdwallet_features()
    acct = Account.from_mnemonic(MNEMONIC, account_path="m/44'/60'/0'/0/1")
    sender = str(acct.address).lower()
    nonce = int(ct.rpc(rpc, "eth_getTransactionCount", sender, "pending"), 16)
    fees = Fees(50 * 10**9, 10**9)
    times = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        tx = unsigned_tx(31337, nonce + i, sender, "0x" + "ab" * 20, "native", None, 1, 21000, fees)
        raw = acct.sign_transaction(to_eth_account_tx(tx)).raw_transaction
        ct.rpc(rpc, "eth_sendRawTransaction", "0x" + bytes(raw).hex())
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    return {"rate_per_s": n / total, "p50_ms": percentile(times, 0.5) * 1000}


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bh-bench-withdrawals-"))
    cfg = DevConfig.on_free_ports(
        root,
        block_time=None,
        auth={"rate_limit_per_s": 100000.0, "rate_limit_burst": 100000},
    )
    stack = DevStack(cfg)
    out: dict[str, Any] = {}
    try:
        log("starting broker, anvil, a worker and the signer")
        stack.start_infra()
        stack.start_worker()
        stack.wait_ready()
        admin = stack.create_admin_key()
        stack.start_signer()
        rpc = cfg.rpc_url
        wallet = stack.signer_wallet()
        while wallet is None:
            time.sleep(0.2)
            wallet = stack.signer_wallet()
        ct.wait_success(rpc, ct.send_eth(rpc, ct.ANVIL_ACCOUNTS[0], wallet["treasury"], 10**21))
        ct.mine(rpc, cfg.confirmations)
        while not any(
            i["user_ref"] is None and int(i["amount"]) > 0
            for i in ok(admin.call("GET", f"/v1/balances?wallet_id={wallet['id']}"))["items"]
        ):
            time.sleep(0.2)
        ct.rpc(rpc, "evm_setAutomine", False)
        topic = "blockhook.withdrawals"  # the dev stack's default topic prefix
        clock = BroadcastClock(f"127.0.0.1:{cfg.broker_port}", topic).start()
        requester = stack.new_client("bench-requester", ["operator"])
        bob = stack.new_client("bench-bob", ["approver"])
        carol = stack.new_client("bench-carol", ["approver"])

        log(f"latency: {args.latency} withdrawals, one at a time")
        wids = []
        for _ in range(args.latency):
            body = {"wallet_id": wallet["id"], "to": "0x" + secrets.token_hex(20)}
            body.update(asset="native", amount="1000")
            idem = {"idempotency-key": secrets.token_hex(8)}
            wid = ok(requester.call("POST", "/v1/withdrawals", body, headers=idem), 201)["id"]
            ok(bob.call("POST", f"/v1/withdrawals/{wid}/approve"))
            wids.append(wid)
        lat = []
        for wid in wids:
            t0 = time.monotonic()
            ok(carol.call("POST", f"/v1/withdrawals/{wid}/approve"))
            lat.append(clock.wait([wid], 60) - t0)
        out["latency_ms"] = {
            "p50": percentile(lat, 0.5) * 1000,
            "p99": percentile(lat, 0.99) * 1000,
            "max": max(lat) * 1000,
            "mean": statistics.mean(lat) * 1000,
        }
        log(f"latency: {out['latency_ms']}")

        log(f"batch: {args.batch} items")
        items = [
            {"to": "0x" + secrets.token_hex(20), "asset": "native", "amount": "1000"}
            for _ in range(args.batch)
        ]
        idem = {"idempotency-key": secrets.token_hex(8)}
        body = {"wallet_id": wallet["id"], "items": items}
        batch = ok(requester.call("POST", "/v1/withdrawal-batches", body, headers=idem), 201)
        ok(bob.call("POST", f"/v1/withdrawal-batches/{batch['id']}/approve"))
        t0 = time.monotonic()
        ok(carol.call("POST", f"/v1/withdrawal-batches/{batch['id']}/approve"))
        last = clock.wait([i["id"] for i in batch["items"]], 1800)
        out["batch"] = {"items": args.batch, "per_s": args.batch / (last - t0), "s": last - t0}
        log(f"batch: {out['batch']}")
        clock.stop()

        log(f"baseline: {args.batch} bare sign + eth_sendRawTransaction")
        out["baseline"] = bare_loop(rpc, args.batch)
        out["batch"]["ratio_to_bare"] = out["batch"]["per_s"] / out["baseline"]["rate_per_s"]
        log(f"baseline: {out['baseline']}")
    finally:
        stack.stop()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latency", type=int, default=50)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    out = run(args)
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
