"""Access control benchmark: what checking a signed request costs.

1. In process: the gate's pure checks for one request (parse the headers, check key,
   signature and clock, nonce book, client address and allowlist, role, rate), in µs, for
   an empty GET and a 1 KiB POST body; the baseline, in the same run, is parsing and
   validating that body as a monitor (work every such request does anyway).
2. Through a real worker (Tansu + anvil): sequential GET /v1/monitors?limit=1 and
   POST /v1/monitors with keys and signatures, against the same requests on a stack with
   `auth.enabled = false` (loopback), started in the same run. A change also waits for its
   claim to come back from the claims log, and writes its audit entry, so it costs more.

Usage: .venv/bin/python bench/bench_auth.py [--pure 200000] [--http 300] [--json FILE]
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

from dev.devstack import DevConfig, DevStack  # noqa: E402
from schemas.monitor import MonitorCreate  # noqa: E402
from streams.apikeys import KeyInfo, key_info, make_key  # noqa: E402
from streams.authcheck import Signed, authenticate, authorize, signed_headers  # noqa: E402
from streams.ipallow import client_address  # noqa: E402
from streams.nonces import NonceBook  # noqa: E402
from streams.ratelimit import RateLimiter  # noqa: E402
from streams.reqsign import sign_headers  # noqa: E402
from streams.secretbox import SecretBox, new_master_key, parse_master_key  # noqa: E402
from transport.apiclient import ApiClient  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def per_call_us(fn: Callable[[int], object], n: int) -> float:
    """Best of three runs of n calls, µs per call."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for i in range(n):
            fn(i)
        best = min(best, (time.perf_counter() - t) / n * 1e6)
    return best


def monitor_body(size: int) -> bytes:
    """A monitor body of about `size` bytes (more addresses make it longer)."""
    addrs: list[str] = []
    body = b""
    while len(body) < size:
        addrs.append("0x" + os.urandom(20).hex())
        body = orjson.dumps({"chain": "local", "addresses": addrs})
    return body


def gate_checks_us(key: KeyInfo, secret: str, method: str, path: str, body: bytes, n: int) -> float:
    """µs per request of the gate's pure checks, for requests signed ahead of time."""
    now = time.time()
    # Distinct nonces, signed ahead: the client's work is not the server's.
    signed = [sign_headers(key.id, secret, method, path, body, now) for _ in range(min(n, 20000))]
    nonces = NonceBook()
    limiter = RateLimiter(1e12, 10**12)

    def check(i: int) -> None:
        s = signed_headers(signed[i % len(signed)])
        assert isinstance(s, Signed)
        assert authenticate(s, key, method, path, body, now) is None
        nonce = f"{s.nonce}{i}"
        nonces.seen(key.id, nonce, now)
        nonces.remember(key.id, nonce, int(s.timestamp), now)
        assert authorize(key, client_address("127.0.0.1", [], []), "operate") is None
        limiter.take(key.id, now)

    return per_call_us(check, n)


def pure(n: int) -> dict[str, Any]:
    box = SecretBox(parse_master_key(new_master_key()))
    record, secret = make_key(box, "bench", ["operator"], ["127.0.0.0/8"], None, time.time())
    key = key_info(record, box)
    body = monitor_body(1024)
    return {
        "requests": n,
        "get_check_us": gate_checks_us(key, secret, "GET", "/v1/monitors?limit=10", b"", n),
        "post_1k_check_us": gate_checks_us(key, secret, "POST", "/v1/monitors", body, n),
        "post_1k_baseline_parse_validate_us": per_call_us(
            lambda _: MonitorCreate.model_validate(orjson.loads(body)), max(n // 10, 1000)
        ),
    }


def http(n: int, auth: bool) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bh-bench-auth-"))
    cfg = DevConfig.on_free_ports(
        root,
        block_time=None,
        # The rate limit out of the way: this measures the checks, not the bucket.
        auth={"rate_limit_per_s": 1e6, "rate_limit_burst": 10**6} if auth else {"enabled": False},
    )
    stack = DevStack(cfg)
    try:
        stack.start_infra()
        stack.start_worker()
        stack.wait_ready()
        # Without auth the worker ignores the headers; the client signs either way.
        client = stack.create_admin_key() if auth else ApiClient(cfg.api_url, "key_off", "x")
        call = client.call

        out: dict[str, Any] = {}
        for label, method, path, make in (
            ("get", "GET", "/v1/monitors?limit=1", lambda: None),
            (
                "post_monitor",
                "POST",
                "/v1/monitors",
                lambda: {"chain": "local", "addresses": ["0x" + os.urandom(20).hex()]},
            ),
        ):
            for _ in range(20):  # warm up
                call(method, path, make())
            lat = []
            for _ in range(n):
                body = make()
                t = time.perf_counter()
                status, answer = call(method, path, body)
                lat.append((time.perf_counter() - t) * 1000)
                assert status in (200, 201), answer
            lat.sort()
            out[f"{label}_p50_ms"] = round(statistics.median(lat), 3)
            out[f"{label}_p99_ms"] = round(lat[int(len(lat) * 0.99) - 1], 3)
        return out
    finally:
        stack.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pure", type=int, default=200000, help="checks per in-process run")
    p.add_argument("--http", type=int, default=300, help="requests per kind through a worker")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    log(f"in process: {args.pure} checks per kind")
    a = pure(args.pure)
    for k, v in a.items():
        print(f"  {k}: {v:.2f}" if isinstance(v, float) else f"  {k}: {v}")
    log("through a worker: auth.enabled = false (the baseline)")
    off = http(args.http, auth=False)
    log("through a worker: signed requests")
    on = http(args.http, auth=True)
    print(f"  {'':14} {'no auth':>10} {'signed':>10} {'ratio':>7}")
    for k in off:
        print(f"  {k:14} {off[k]:>10.3f} {on[k]:>10.3f} {on[k] / off[k]:>7.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"pure": a, "off": off, "on": on}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
