"""Scaling out on one machine: detection and delivery with 1, 2 and 3 workers of one group
(same run, each on a fresh embedded broker), against the same-run baselines of
bench_detection (a bare consumer) and bench_deliveries (signed POSTs from a plain loop);
then fail-over times with three workers on anvil.

Detection needs several chains to spread: a chain's blocks are one partition of the blocks
topic, decoded by the one worker that holds it. So three chains whose blocks land on three
different partitions are fed at once.

Usage: .venv/bin/python bench/bench_workers.py [--workers 1,2,3] [--blocks 150]
       [--watched 30000] [--deliveries 20000] [--skip-failover] [--json FILE]
Prints its figures; never part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

REPO = Path(__file__).resolve().parents[1]
for p in (REPO, REPO / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import bench_deliveries as bd  # noqa: E402
import bench_detection as bdet  # noqa: E402
from benchkit import wait_applied  # noqa: E402

from blockhook.admin import ensure_topics  # noqa: E402
from core.settings import ChainSettings, Settings  # noqa: E402
from dev import chaintools as ct  # noqa: E402
from dev import procs  # noqa: E402
from dev.devstack import DevConfig, write_private  # noqa: E402
from streams.match import partition_for  # noqa: E402
from streams.partition import key_partition  # noqa: E402
from streams.secretbox import new_master_key  # noqa: E402

PARTITIONS = 6
log = bdet.log


def chain_names(n: int) -> list[str]:
    """n chain names whose blocks go to n different partitions."""
    names: list[str] = []
    used: set[int] = set()
    i = 0
    while len(names) < n:
        name = f"bench{i}"
        p = key_partition(name.encode(), PARTITIONS)
        if p not in used:
            used.add(p)
            names.append(name)
        i += 1
    return names


class Group:
    """A fresh broker and n workers with the production defaults; chains with a dead node
    (blocks are published by the bench) and loopback webhooks allowed."""

    def __init__(self, root: Path, n: int, chains: list[str]) -> None:
        self.root, self.n, self.chains = root, n, chains
        self.broker_port = procs.free_port()
        self.api_ports = [procs.free_port() for _ in range(n)]
        self.procs: list[Any] = []
        self.settings = Settings(
            broker=f"kafka://127.0.0.1:{self.broker_port}",
            partitions=PARTITIONS,
            chains=[
                ChainSettings(name=c, chain_id=1 + i, rpc_urls=["http://x"])
                for i, c in enumerate(chains)
            ],
        )

    def toml(self, i: int) -> str:
        dead = f"http://127.0.0.1:{procs.free_port()}"
        lines = [
            f'broker = "kafka://127.0.0.1:{self.broker_port}"',
            f'data_dir = "{self.root / f"data{i}"}"',
            f"partitions = {PARTITIONS}",
            f'api_bind = "127.0.0.1:{self.api_ports[i]}"',
            "allow_loopback_webhooks = true",
            'log_level = "warning"',
            "[auth]",
            f'master_key_file = "{self.root / "master.key"}"',
        ]
        for j, c in enumerate(self.chains):
            lines += [
                "[[chains]]",
                f'name = "{c}"',
                f"chain_id = {1 + j}",
                f'rpc_urls = ["{dead}"]',
                f"confirmations = {bdet.CONFIRMATIONS}",
                f"finality_depth = {bdet.FINALITY}",
                "poll_interval_s = 600",
                "rpc_timeout_s = 1",
            ]
        return "\n".join(lines) + "\n"

    async def start(self) -> None:
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        write_private(self.root / "master.key", new_master_key() + "\n")
        self.procs.append(procs.start_broker(self.broker_port, self.root / "logs/broker.log"))
        await ensure_topics(self.settings)
        for i in range(self.n):
            cfg = self.root / f"w{i}.toml"
            cfg.write_text(self.toml(i))
            self.procs.append(procs.start_worker(cfg, self.root / f"logs/worker{i}.log"))
        for i, port in enumerate(self.api_ports):
            bdet.wait_healthy(f"http://127.0.0.1:{port}", self.procs[1 + i], 180)

    @property
    def workers(self) -> list[Any]:
        return self.procs[1:]

    def stop(self) -> None:
        procs.stop_all(list(reversed(self.workers)))
        procs.stop(self.procs[0], 5)


async def detection(args: argparse.Namespace, n: int, root: Path) -> dict[str, Any]:
    """Transfers per second through decode, match and track with n workers."""
    chains = chain_names(args.chains)
    g = Group(root, n, chains)
    await g.start()
    s = g.settings
    bootstrap = s.bootstrap_servers
    tap = bdet.EventTap(bootstrap, s.topic("events"))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=16 << 20, linger_ms=5)
    await tap.start()
    await producer.start()
    try:
        watched = {c: bdet.rand_hex(20, args.watched) for c in chains}
        ids = []
        for c in chains:
            per = args.watched // 10
            for k in range(10):
                mid = f"mon_{c}_{k}"
                ids.append(mid)
                mon = {
                    "id": mid,
                    "chain": c,
                    "addresses": watched[c][k * per : (k + 1) * per],
                    "webhook": None,
                }
                await producer.send_and_wait(
                    s.topic("monitors"), orjson.dumps(mon), key=mid.encode()
                )
        await wait_applied(bootstrap, s.topic("monitors.applied"), set(ids))

        def markers(c: str, salt: int) -> list[str]:
            picks: dict[int, str] = {}
            while len(picks) < PARTITIONS:
                a = watched[c][(salt * 7919 + len(picks) * 104729 + len(picks) ** 3) % args.watched]
                salt += 1
                picks.setdefault(partition_for(c, a, PARTITIONS), a)
            return [picks[p] for p in sorted(picks)]

        synths = {c: bdet.Synth(watched[c], args.txs, args.logs, 0.01) for c in chains}
        parents: dict[str, str] = {}
        probe: list[tuple[str, str]] = []
        for c in chains:
            rec, mtx, _ = synths[c].block(1, "0x" + "00" * 32, markers(c, 1))
            rec["chain"] = c
            parents[c] = rec["hash"]
            probe += [(h, "transfer.seen") for h in mtx]
            await producer.send_and_wait(s.topic("blocks"), orjson.dumps(rec), key=c.encode())
        await tap.wait(probe, 600)
        payloads: list[tuple[str, bytes]] = []
        first_m: list[tuple[str, str]] = []
        last_m: list[tuple[str, str]] = []
        last = 1 + args.blocks
        for number in range(2, last + 1):
            for c in chains:
                mk = markers(c, number) if number in (2, last) else None
                rec, mtx, _ = synths[c].block(number, parents[c], mk)
                rec["chain"] = c
                parents[c] = rec["hash"]
                (first_m if number == 2 else last_m).extend((h, "transfer.seen") for h in mtx)
                payloads.append((c, orjson.dumps(rec)))
        # From the first block handed to the broker to the last block's events (publishing
        # overlaps the work, as it does when a node is followed).
        t0 = time.perf_counter()
        futs = [await producer.send(s.topic("blocks"), v, key=c.encode()) for c, v in payloads]
        await asyncio.gather(*futs)
        await tap.wait(first_m, 600)
        t_last = await tap.wait(last_m, 3600)
        t_first = t0
        transfers = args.blocks * (args.txs + args.logs) * len(chains)
        cpu = sum(bd.cpu_seconds(w.pid) for w in g.workers)
        out = {
            "workers": n,
            "chains": len(chains),
            "transfers": transfers,
            "seconds": t_last - t_first,
            "rate": transfers / (t_last - t_first),
            "worker_cpu_s": cpu,
        }
        if args.baseline_needed:
            out["baseline"] = await baseline(bootstrap, s.topic("blocks"), watched, 2, last)
        return out
    finally:
        await producer.stop()
        await tap.stop()
        g.stop()


async def baseline(
    bootstrap: str, topic: str, watched: dict[str, list[str]], first: int, last: int
) -> float:
    """bench_detection's bare consumer over every chain's partition of the blocks topic."""
    sets = {c: set(v) for c, v in watched.items()}
    c = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=16 << 20,
        fetch_max_bytes=64 << 20,
    )
    await c.start()
    tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
    c.assign(tps)
    await c.seek_to_beginning(*tps)
    transfers = 0
    done: set[str] = set()
    t0: float | None = None
    while len(done) < len(sets):
        batch = await c.getmany(timeout_ms=1000, max_records=10_000)
        for msgs in batch.values():
            for m in msgs:
                rec = orjson.loads(m.value)
                num, chain = rec.get("number", -1), rec.get("chain")
                if num < first or num > last or chain not in sets:
                    continue
                t0 = t0 or time.perf_counter()
                w = sets[chain]
                for tx in rec["transactions"]:
                    transfers += 1
                    _ = (tx["to"] in w) + (tx["sender"] in w)
                for lg in rec["logs"]:
                    transfers += 1
                    tp = lg["topics"]
                    _ = ("0x" + tp[1][26:] in w) + ("0x" + tp[2][26:] in w)
                if num == last:
                    done.add(chain)
    secs = time.perf_counter() - (t0 or time.perf_counter())
    await c.stop()
    return transfers / secs


async def deliveries(args: argparse.Namespace, n: int, root: Path) -> dict[str, Any]:
    """Signed webhooks per second with n workers, 60 monitors over 6 partitions."""
    g = Group(root, n, [])
    recv_port = procs.free_port()
    base = f"http://127.0.0.1:{recv_port}"
    recv = procs.spawn([sys.executable, "-c", bd.RECEIVER, str(recv_port)], root / "logs/recv.log")
    try:
        await g.start()
        for _ in range(100):
            if procs.port_open("127.0.0.1", recv_port):
                break
            await asyncio.sleep(0.1)
        names = [f"m{i}" for i in range(60)]
        ns = argparse.Namespace(per_fold=50, partitions=PARTITIONS)
        out: dict[str, Any] = {"workers": n}
        if args.baseline_needed:
            out["baseline"] = await bd.baseline(base, args.deliveries, names)
        bootstrap = g.settings.bootstrap_servers
        await bd.produce(bootstrap, base, 1000, names, 10**9, ns)  # warm-up
        await bd.wait_count(base, names, 1000, 120)
        await bd.reset(base)
        cpu0 = sum(bd.cpu_seconds(w.pid) for w in g.workers)
        await bd.produce(bootstrap, base, args.deliveries, names, 0, ns)
        await bd.wait_count(base, names, args.deliveries, 600)
        _, out["rate"] = bd.rate(await bd.stats(base), names)
        out["worker_cpu_us"] = (
            (sum(bd.cpu_seconds(w.pid) for w in g.workers) - cpu0) / args.deliveries * 1e6
        )
        return out
    finally:
        g.stop()
        procs.stop(recv, 5)


def failover(root: Path) -> dict[str, float]:
    """Three workers on anvil (production defaults): a restart after kill -9, the follower
    killed for good, the follower stopped with SIGTERM: seconds until served again."""
    from tests.e2e.group import start_group, stop_group  # the end-to-end tests' three
    from tests.e2e.traffic import get_json

    cfg = DevConfig.on_free_ports(root, block_time=1.0, partitions=PARTITIONS, poll_interval_s=0.5)
    g = start_group(cfg)
    out: dict[str, float] = {}
    try:

        def until(pred: Any, timeout_s: float = 120) -> float:
            t0 = time.monotonic()
            while not pred():
                assert time.monotonic() - t0 < timeout_s
                time.sleep(0.05)
            return time.monotonic() - t0

        victim = next(n for n in ("a", "b", "c") if n != g.wait_follower())
        g.kill(victim)
        t0 = time.monotonic()
        g.start(victim)
        out["restart_alive_s"] = until(lambda: get_json(f"{g.url(victim)}/healthz")[0] == 200)
        out["restart_ready_s"] = time.monotonic() - t0 + until(lambda: g.readyz(victim)[0] == 200)
        ct.mine(cfg.rpc_url, 1)
        for mode in ("kill", "sigterm"):
            follower = g.wait_follower()
            (g.kill if mode == "kill" else g.stop)(follower)
            t0 = time.monotonic()
            until(lambda f=follower: g.follower() not in (None, f), 180)
            out[f"follower_{mode}_moved_s"] = time.monotonic() - t0
            g.start(follower)
            g.wait_ready(follower)
    finally:
        stop_group(g)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workers", default="1,2,3")
    ap.add_argument("--chains", type=int, default=3)
    ap.add_argument("--blocks", type=int, default=150, help="blocks per chain")
    ap.add_argument("--txs", type=int, default=200)
    ap.add_argument("--logs", type=int, default=300)
    ap.add_argument("--watched", type=int, default=30_000, help="watched addresses per chain")
    ap.add_argument("--deliveries", type=int, default=20_000)
    ap.add_argument("--skip-detection", action="store_true")
    ap.add_argument("--skip-deliveries", action="store_true")
    ap.add_argument("--skip-failover", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    results: dict[str, Any] = {"detection": [], "deliveries": []}
    work = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    try:
        for kind, fn, skip in (
            ("detection", detection, args.skip_detection),
            ("deliveries", deliveries, args.skip_deliveries),
        ):
            if skip:
                continue
            for i, n in enumerate(counts):
                args.baseline_needed = i == 0
                log(f"{kind}: {n} worker(s)")
                r = asyncio.run(fn(args, n, work / f"{kind}{n}"))
                results[kind].append(r)
                log(json.dumps(r))
        if not args.skip_failover:
            log("fail-over: three workers on anvil")
            results["failover"] = failover(work / "failover")
            log(json.dumps(results["failover"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(r: dict[str, Any]) -> None:
    print()
    for kind, unit in (("detection", "transfers/s"), ("deliveries", "deliveries/s")):
        rows = r.get(kind) or []
        if not rows:
            continue
        base = rows[0]["baseline"]
        print(f"{kind}: baseline {base:,.0f} {unit} (same run)")
        for row in rows:
            rate = row["rate"]
            print(
                f"  {row['workers']} worker(s): {rate:>10,.0f} {unit}  ratio {rate / base:.2f}"
                f"  x{rate / rows[0]['rate']:.2f} of one worker"
            )
    for k, v in (r.get("failover") or {}).items():
        print(f"fail-over {k}: {v:.1f} s")


if __name__ == "__main__":
    main()
