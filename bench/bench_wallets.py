"""Wallets benchmark: addresses derived per second (the CLI bulk path, one process and all
CPUs) and address assignments per second through the API on a real worker (Tansu + anvil),
each including the allocator round trip and the acknowledged watch (owner) update.

Usage: .venv/bin/python bench/bench_wallets.py [--derive 100000] [--assign 2000]
       [--concurrency 64] [--json FILE]
Prints its figures; never part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bip_utils import Bip39SeedGenerator, Bip44, Bip44Coins  # noqa: E402

from blockhook.cli_wallet import DeriveJob, run_derive  # noqa: E402
from dev.devstack import DevConfig, DevStack  # noqa: E402

MNEMONIC = "test test test test test test test test test test test junk"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def account_xpub(account: int) -> str:
    seed = Bip39SeedGenerator(MNEMONIC).Generate()
    acc = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(account)
    return str(acc.PublicKey().ToExtended())


def derive(n: int) -> dict[str, Any]:
    xpub = account_xpub(0)
    out: dict[str, Any] = {"count": n}
    for jobs in (1, os.cpu_count() or 1):
        log(f"derive: {n} addresses with {jobs} process(es)")
        job = DeriveJob(None, None, xpub, n, 0, os.devnull, "csv", jobs)
        out[f"rate_jobs_{jobs}"] = run_derive(job)
    return out


def assign(n: int, concurrency: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bh-bench-wallets-"))
    cfg = DevConfig.on_free_ports(
        root,
        block_time=1,
    )
    stack = DevStack(cfg)
    try:
        log("assign: starting broker, anvil and a worker")
        stack.start_infra()
        stack.start_worker()
        stack.wait_ready()
        admin = stack.create_admin_key()
        status, w = admin.call("POST", "/v1/wallets", {"chain": "local", "xpub": account_xpub(9)})
        assert status == 201, w
        path = f"/v1/wallets/{w['id']}/addresses"

        def one(ref: str) -> float:
            t = time.perf_counter()
            status, a = admin.call("POST", path, {"user_ref": ref})
            assert status == 200, a
            return time.perf_counter() - t

        log("assign: 200 sequential requests (latency)")
        seq = [one(f"seq-{i}") for i in range(200)]
        log(f"assign: {n} new customers, {concurrency} requests at a time")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            lat = list(pool.map(one, [f"c-{i}" for i in range(n)]))
        new_rate = n / (time.perf_counter() - t0)
        log(f"assign: the same {n} customers again (answered from the view)")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, [f"c-{i}" for i in range(n)]))
        repeat_rate = n / (time.perf_counter() - t0)
        q = statistics.quantiles(seq, n=100)
        return {
            "new_per_s": new_rate,
            "repeat_per_s": repeat_rate,
            "sequential_p50_ms": 1000 * q[49],
            "sequential_p99_ms": 1000 * q[98],
            "concurrent_p50_ms": 1000 * statistics.median(lat),
        }
    finally:
        stack.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--derive", type=int, default=100_000)
    p.add_argument("--assign", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    d = derive(args.derive)
    a = assign(args.assign, args.concurrency)
    print()
    for k, v in d.items():
        print(f"derive {k:>16}: {v:>12,.0f}")
    for k, v in a.items():
        print(f"assign {k:>16}: {v:>12,.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"derive": d, "assign": a}, indent=2))


if __name__ == "__main__":
    main()
