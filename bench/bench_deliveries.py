"""Deliveries per second from one worker to a fast local receiver, signing on; then the same
with 1 of 10 endpoints hanging until the timeout. Baseline: signed aiohttp POSTs from a plain
asyncio loop to the same receiver. Jobs are produced straight onto the deliveries topic."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson
from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dev import procs  # noqa: E402
from dev.devstack import healthz, write_private  # noqa: E402
from streams.deliveryjob import pack_jobs  # noqa: E402
from streams.secretbox import new_master_key  # noqa: E402
from streams.signing import webhook_headers  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

# The receiver: HTTP/1.1 keep-alive on an asyncio protocol, so that its own cost per
# request (a quarter of what an aiohttp server costs) leaves the shared CPU to the sender.
# POST /h/<name> answers 204, except /h/dead, which never answers.
RECEIVER = r"""
import asyncio, json, sys
counts, first, last = {}, {}, {}
class Handler(asyncio.Protocol):
    def connection_made(self, transport):
        self.t, self.buf = transport, b""
    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            n = 0
            for line in head[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    n = int(v)
            if len(self.buf) < end + 4 + n:
                return
            self.buf = self.buf[end + 4 + n:]
            method, path, _ = head[0].split(" ", 2)
            self.answer(method, path)
    def answer(self, method, path):
        if path.startswith("/h/"):
            name = path[3:]
            if name == "dead":
                return
            now = asyncio.get_running_loop().time()
            counts[name] = counts.get(name, 0) + 1
            first.setdefault(name, now)
            last[name] = now
            self.t.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            return
        if path == "/reset":
            counts.clear(); first.clear(); last.clear()
        body = json.dumps({"counts": counts, "first": first, "last": last}).encode()
        self.t.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n" % len(body) + body)
async def main():
    server = await asyncio.get_running_loop().create_server(
        Handler, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    await server.serve_forever()
asyncio.run(main())
"""


def event(i: int) -> dict[str, object]:
    return {
        "id": f"evt_{i:040x}",
        "type": "transfer.confirmed",
        "monitor_id": "mon_bench",
        "chain": "local",
        "chain_id": 31337,
        "tx_hash": "0x" + f"{i:064x}",
        "log_index": None,
        "block_number": i,
        "block_hash": "0x" + "22" * 32,
        "from": "0x" + "33" * 20,
        "to": "0x" + "44" * 20,
        "direction": "in",
        "asset": {
            "kind": "native",
            "contract": None,
            "symbol": "ETH",
            "decimals": 18,
            "token_id": None,
        },
        "amount": str(i),
        "confirmations": 1,
        "required_confirmations": 1,
        "credited": True,
        "wallet_id": None,
        "user_ref": None,
        "occurred_at": "2026-11-21T12:00:00Z",
    }


async def stats(base: str) -> dict[str, dict[str, float]]:
    async with aiohttp.ClientSession() as s, s.get(base + "/stats") as r:
        data: dict[str, dict[str, float]] = await r.json()
        return data


async def reset(base: str) -> None:
    async with aiohttp.ClientSession() as s, s.post(base + "/reset") as r:
        await r.read()


def rate(st: dict[str, dict[str, float]], names: list[str]) -> tuple[int, float]:
    n = sum(int(st["counts"].get(x, 0)) for x in names)
    t0 = min(st["first"][x] for x in names if x in st["first"])
    t1 = max(st["last"][x] for x in names if x in st["last"])
    return n, n / max(t1 - t0, 1e-6)


async def baseline(base: str, n: int, names: list[str], concurrency: int = 64) -> float:
    await reset(base)
    sem = asyncio.Semaphore(concurrency)
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as s:

        async def one(i: int) -> None:
            ev = event(i)
            body = orjson.dumps(ev)
            headers = webhook_headers([SECRET], str(ev["id"]), int(time.time()), body)
            async with (
                sem,
                s.post(f"{base}/h/{names[i % len(names)]}", data=body, headers=headers) as r,
            ):
                await r.read()

        await asyncio.gather(*(one(i) for i in range(n)))
    _, r = rate(await stats(base), names)
    return r


async def produce(
    bootstrap: str, base: str, n: int, names: list[str], offset: int, args: argparse.Namespace
) -> None:
    """n jobs onto the deliveries topic, packed as the tracker packs them: the deliveries of
    one fold (here `--per-fold` at a time) as one JSON-array message per partition."""
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20)
    await p.start()
    try:
        futs = []
        jobs: list[tuple[str, bytes]] = []
        for i in range(offset, offset + n):
            ev = event(i)
            name = names[i % len(names)]
            job = {
                "id": "dlv_" + str(ev["id"])[4:],
                "event": ev,
                "monitor_id": f"mon_{name}",
                "kind": "webhook",
                "url": f"{base}/h/{name}",
                "secrets": [SECRET],
                "retry": {"delays_s": [3600]},
                "attempts": [],
                "first_at": None,
                "next_attempt_at": None,
                "redelivery_of": None,
            }
            jobs.append((str(job["monitor_id"]), orjson.dumps(job)))
            if len(jobs) == args.per_fold or i == offset + n - 1:
                for partition, value in pack_jobs(jobs, args.partitions):
                    futs.append(await p.send("blockhook.deliveries", value, partition=partition))
                jobs = []
        await asyncio.gather(*futs)
    finally:
        await p.stop()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far (Linux /proc): robust to other
    load on the machine, unlike a rate."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_count(base: str, names: list[str], n: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = await stats(base)
        if sum(int(st["counts"].get(x, 0)) for x in names) >= n:
            return
        await asyncio.sleep(0.5)
    raise SystemExit(f"timed out: {await stats(base)}")


async def run(args: argparse.Namespace) -> None:
    work = ROOT / ".bench" / "deliveries"
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    broker_port, recv_port, api_port = procs.free_port(), procs.free_port(), procs.free_port()
    base = f"http://127.0.0.1:{recv_port}"
    started: list[subprocess.Popen[bytes]] = []
    try:
        started.append(procs.start_broker(broker_port, work / "logs/broker.log"))
        started.append(
            procs.spawn([sys.executable, "-c", RECEIVER, str(recv_port)], work / "logs/recv.log")
        )
        api_ports = [api_port] + [procs.free_port() for _ in range(args.workers - 1)]
        master = work / "master.key"
        write_private(master, new_master_key() + "\n")
        cfgs = []
        for i, port in enumerate(api_ports):
            cfg = work / f"blockhook{i}.toml"
            cfg.write_text(
                f'broker = "kafka://127.0.0.1:{broker_port}"\n'
                f'data_dir = "{work / f"data{i}"}"\npartitions = {args.partitions}\n'
                f'api_bind = "127.0.0.1:{port}"\nallow_loopback_webhooks = true\n'
                'log_level = "warning"\n'
                f'[auth]\nmaster_key_file = "{master}"\n'
                "[retry]\ntimeout_s = 10\n"
            )
            cfgs.append(cfg)
        for _ in range(100):
            if procs.port_open("127.0.0.1", recv_port):
                break
            await asyncio.sleep(0.1)
        healthy = [f"e{i}" for i in range(10)]
        base_rate = await baseline(base, args.n, healthy)
        print(f"baseline  signed aiohttp POSTs, plain asyncio loop: {base_rate:8.0f} /s")

        for i, cfg in enumerate(cfgs):
            started.append(procs.start_worker(cfg, work / f"logs/worker{i}.log"))
        # Ready (not merely answering: the API answers from a worker's first second).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all((healthz(f"http://127.0.0.1:{p}") or {}).get("ready") for p in api_ports):
                break
            if any(w.poll() is not None for w in started[-args.workers :]):
                raise SystemExit(f"a worker exited; see {work}/logs/")
            await asyncio.sleep(0.3)
        await asyncio.sleep(3 * args.workers)
        bootstrap = f"127.0.0.1:{broker_port}"
        # Warm-up (connections, partition assignment).
        await produce(bootstrap, base, 1000, healthy, 10**9, args)
        await wait_count(base, healthy, 1000, 120)

        who = "worker    " if args.workers == 1 else f"{args.workers} workers "
        workers = started[-args.workers :]
        await reset(base)
        cpu0 = sum(cpu_seconds(w.pid) for w in workers)
        await produce(bootstrap, base, args.n, healthy, 0, args)
        await wait_count(base, healthy, args.n, 600)
        cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu0
        _, all_rate = rate(await stats(base), healthy)
        print(
            f"{who}10 healthy endpoints:                  {all_rate:8.0f} /s "
            f"({all_rate / base_rate:.0%} of baseline; worker CPU {cpu / args.n * 1e6:.0f} "
            "µs per delivery)"
        )

        await reset(base)
        mixed = [*healthy[:9], "dead"]
        cpu0 = sum(cpu_seconds(w.pid) for w in workers)
        await produce(bootstrap, base, args.n, mixed, args.n, args)
        n_healthy = sum(1 for i in range(args.n, 2 * args.n) if mixed[i % 10] != "dead")
        await wait_count(base, healthy[:9], n_healthy, 600)
        cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu0
        _, per9 = rate(await stats(base), healthy[:9])
        print(
            f"{who}9 healthy + 1 hanging endpoint:        {per9:8.0f} /s to the healthy "
            f"({per9 / (all_rate * 0.9):.0%} of their rate without the dead one; worker CPU "
            f"{cpu / n_healthy * 1e6:.0f} µs per healthy delivery)"
        )
    finally:
        for p in reversed(started):
            procs.stop(p, 10)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20_000, help="deliveries per scenario")
    ap.add_argument("--workers", type=int, default=1, help="worker processes (scaling out)")
    ap.add_argument(
        "--per-fold", type=int, default=50, help="deliveries the tracker emits at once (packed)"
    )
    ap.add_argument("--partitions", type=int, default=4, help="partitions per topic")
    ap.add_argument("--keep", action="store_true", help="keep .bench/deliveries (logs)")
    asyncio.run(run(ap.parse_args()))
    os._exit(0)


if __name__ == "__main__":
    main()
