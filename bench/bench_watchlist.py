"""Watch-list growth benchmark: how fast one monitor's list grows to millions of addresses on a
real worker (Tansu + anvil), through the API (`PATCH add_addresses`, 20,000 a request) and,
as the same-run baseline, straight on the monitors.addresses topic (chunks of 10,000 from a
plain producer). Each is timed until the worker acknowledged every change (after that, a
block is matched against the new addresses). Also: request latency at the start and the end
(does a request cost more as the list grows?), the largest message written, reading the list
back, and the worker's RSS.

Usage: .venv/bin/python bench/bench_watchlist.py [--addresses 1000000] [--json FILE]
Prints its figures; never part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from benchkit import log, vm_kb  # noqa: E402

from dev.devstack import DevConfig, DevStack  # noqa: E402
from streams.monitorlist import CHUNK, chunk_key, chunk_record  # noqa: E402
from streams.watchlist import monitor_digest  # noqa: E402
from transport.apiclient import ApiClient  # noqa: E402

PER_REQUEST = 20_000


def addresses(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"0x{rng.randrange(1 << 160):040x}" for _ in range(n)]


async def by_topic(stack: DevStack, admin: ApiClient, n: int) -> dict[str, Any]:
    """The baseline: the record through the API, then chunks straight onto the topic, timed
    until the worker acknowledged the last."""
    status, mon = admin.call("POST", "/v1/monitors", {"chain": "local", "confirmations": 1})
    assert status == 201, mon
    mid = mon["id"]
    addrs = addresses(n, 1)
    s = stack._settings()
    records = [
        (chunk_key(mid, i // CHUNK), chunk_record(mid, i // CHUNK, "local", addrs[i : i + CHUNK]))
        for i in range(0, n, CHUNK)
    ]
    want = {k.decode(): monitor_digest(r) for k, r in records}
    consumer = AIOKafkaConsumer(
        s.topic("monitors.applied"),
        bootstrap_servers=s.bootstrap_servers,
        auto_offset_reset="latest",
        group_id=None,
    )
    await consumer.start()
    await consumer.seek_to_end()
    producer = AIOKafkaProducer(
        bootstrap_servers=s.bootstrap_servers, max_request_size=4 * 1024 * 1024, linger_ms=5
    )
    await producer.start()
    try:
        t0 = time.perf_counter()
        biggest = 0
        for key, rec in records:
            value = orjson.dumps(rec)
            biggest = max(biggest, len(value))
            await producer.send(s.topic("monitors.addresses"), value, key=key)
        await producer.flush()
        t_sent = time.perf_counter()
        while want:
            batch = await consumer.getmany(timeout_ms=1000)
            for msgs in batch.values():
                for m in msgs:
                    k = (m.key or b"").decode()
                    if k in want and orjson.loads(m.value or b"{}").get("digest") == want[k]:
                        del want[k]
            if time.perf_counter() - t0 > 3600:
                raise TimeoutError(f"{len(want)} chunks not acknowledged")
        secs = time.perf_counter() - t0
    finally:
        await producer.stop()
        await consumer.stop()
    log(f"topic: {n:,} addresses in {secs:.1f}s = {n / secs:,.0f}/s (sent in {t_sent - t0:.1f}s)")
    return {"monitor": mid, "secs": secs, "rate": n / secs, "largest_message_bytes": biggest}


def by_api(admin: ApiClient, n: int) -> dict[str, Any]:
    """One monitor grown by PATCH add_addresses of PER_REQUEST each."""
    status, mon = admin.call("POST", "/v1/monitors", {"chain": "local", "confirmations": 1})
    assert status == 201, mon
    path = f"/v1/monitors/{mon['id']}"
    addrs = addresses(n, 2)
    took: list[float] = []
    biggest = 0
    t0 = time.perf_counter()
    for i in range(0, n, PER_REQUEST):
        body = {"add_addresses": addrs[i : i + PER_REQUEST]}
        biggest = max(biggest, len(orjson.dumps(body)))
        t = time.perf_counter()
        status, out = admin.call("PATCH", path, body)
        took.append(time.perf_counter() - t)
        assert status == 200, out
        if len(took) % 50 == 0:
            log(f"api: {i + PER_REQUEST:,} addresses, last request {took[-1] * 1000:.0f} ms")
    secs = time.perf_counter() - t0
    k = min(10, len(took))
    first, last = statistics.median(took[:k]), statistics.median(took[-k:])
    log(
        f"api: {n:,} addresses in {secs:.1f}s = {n / secs:,.0f}/s; a request "
        f"{first * 1000:.0f} ms at the start, {last * 1000:.0f} ms at the end (median of {k})"
    )
    t = time.perf_counter()
    status, whole = admin.call("GET", path)
    get_s = time.perf_counter() - t
    assert status == 200 and whole.get("address_count", len(whole["addresses"])) == n, whole
    t = time.perf_counter()
    status, page = admin.call("GET", path + "/addresses?limit=1000")
    page_s = time.perf_counter() - t
    assert status == 200 and len(page["items"]) == min(n, 1000)
    log(f"api: GET the monitor {get_s * 1000:.0f} ms, a page of 1000 {page_s * 1000:.0f} ms")
    return {
        "monitor": mon["id"],
        "secs": secs,
        "rate": n / secs,
        "request_ms_first": first * 1000,
        "request_ms_last": last * 1000,
        "largest_request_bytes": biggest,
        "get_ms": get_s * 1000,
        "page_ms": page_s * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--addresses", type=int, default=1_000_000, help="added by each path")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bh-bench-watchlist-"))
    stack = DevStack(DevConfig.on_free_ports(root, block_time=1))
    out: dict[str, Any] = {"addresses": args.addresses}
    try:
        log("starting broker, anvil and a worker")
        stack.start_infra()
        stack.start_worker()
        stack.wait_ready()
        admin = stack.create_admin_key()
        assert stack.worker is not None
        pid = stack.worker.pid
        out["worker_rss_idle_mb"] = vm_kb(pid, "VmRSS") / 1024
        out["topic"] = asyncio.run(by_topic(stack, admin, args.addresses))
        out["worker_rss_after_topic_mb"] = vm_kb(pid, "VmRSS") / 1024
        out["api"] = by_api(admin, args.addresses)
        out["worker_rss_after_api_mb"] = vm_kb(pid, "VmRSS") / 1024
        out["worker_rss_peak_mb"] = vm_kb(pid, "VmHWM") / 1024
    finally:
        stack.stop()
    out["ratio_api_to_topic"] = out["api"]["rate"] / out["topic"]["rate"]
    print()
    print(
        f"watch list growth, {args.addresses:,} addresses each way:\n"
        f"  topic (baseline): {out['topic']['rate']:>9,.0f} addresses/s, largest message "
        f"{out['topic']['largest_message_bytes']:,} B\n"
        f"  API (PATCH):      {out['api']['rate']:>9,.0f} addresses/s "
        f"({out['ratio_api_to_topic']:.2f} of the baseline), largest request "
        f"{out['api']['largest_request_bytes']:,} B, a request "
        f"{out['api']['request_ms_first']:.0f} ms first, {out['api']['request_ms_last']:.0f} ms "
        f"last\n"
        f"  worker RSS: idle {out['worker_rss_idle_mb']:.0f} MB, after the topic's "
        f"{out['worker_rss_after_topic_mb']:.0f} MB, after the API's "
        f"{out['worker_rss_after_api_mb']:.0f} MB, peak {out['worker_rss_peak_mb']:.0f} MB"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
