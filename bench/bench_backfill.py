"""Backfill benchmark: `blockhook backfill` of a filled anvil chain with 1M watched addresses,
against ethereum-etl exporting the same range and a bare batched JSON-RPC fetch of it.

Usage: .venv/bin/python bench/bench_backfill.py [--blocks 500] [--pin-node] [--skip-etl]
[--json FILE] (`make bench` runs it through bench/run_all.py). Prints its figures; never part
of `make test`. bench/README.md has the method in detail.

An anvil chain (`--gas-limit 300000000`, no automine) gets `--blocks` blocks, each with `--txs`
native transfers and one call to a log emitter that logs `--logs` ERC20 `Transfer`s (about 1%
of the recipients watched, plus a watched marker per partition in the first and last block).
Then, in this order and in the same run:

(c) the bare fetch: the same blocks with full transactions and their receipts
    (`eth_getBlockByNumber` + `eth_getBlockReceipts`) in JSON-RPC batches from one aiohttp
    client, as many batches in flight as the backfill keeps, answers parsed with orjson: what
    the node itself serves (also once with one batch at a time);
(a) ethereum-etl 2.4.2 (its own venv under .tools/, made on first run from pinned versions):
    `export_blocks_and_transactions` then `export_token_transfers` for the range, its defaults;
(b) the embedded broker and one real worker following the chain, 100 monitors of 10,000
    addresses on the monitors topic (applied and folded first, not timed), then
    `blockhook backfill --from F --to L` as a user runs it: the time from starting the command
    until the last block's marker events are on the events topic; every hit is checked;
(d) the pipeline alone: the range's messages made ahead, produced while the worker is
    stopped (SIGSTOP), the worker resumed: the rate of decode + match + track on a pre-filled
    blocks topic;
(c) the bare fetch again; the faster of its two runs is the figure.

With --pin-node anvil runs on a core of its own and everything else on the other, as with a
node on another machine; by default they share both cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from benchkit import log, markers, rand_hex, vm_kb, wait_applied, wait_changelog  # noqa: E402

from blockhook.admin import ensure_topics  # noqa: E402
from chain.backfill import CONCURRENCY, backfill_range  # noqa: E402
from chain.follower import BlockSource  # noqa: E402
from core.settings import ChainSettings, Settings  # noqa: E402
from dev import procs  # noqa: E402
from dev.devstack import write_private  # noqa: E402
from streams.normalize import TRANSFER_TOPIC  # noqa: E402
from streams.secretbox import new_master_key  # noqa: E402

CHAIN = "bench"
CHAIN_ID = 31337
PARTITIONS = 4
CONFIRMATIONS = 12
FINALITY = 64
GAS_LIMIT = 300_000_000
TAIL_BLOCKS = 20  # empty blocks mined after the range: it is confirmed, the follower is past it

# ethereum-etl 2.4.2 and every package it needs, pinned (a `pip freeze` of a working install),
# installed with --no-deps: eth-abi 2.2.0 asks for parsimonious < 0.9, whose 0.8 does not
# import on Python 3.11 (inspect.getargspec is gone); 0.9.0 works with it.
ETL_PINS = (
    "aiohappyeyeballs==2.7.1 aiohttp==3.14.5 aiosignal==1.4.0 async-generator==1.10 attrs==26.1.0 "
    "base58==2.1.1 bitarray==2.9.3 blake3==1.0.11 certifi==2026.10.19.post1 "
    "charset-normalizer==3.5.3 click==8.5.1 colorama==0.4.6 cytoolz==0.12.3 dnspython==2.9.2 "
    "eth-abi==2.2.0 eth-account==0.5.9 eth-hash==0.3.3 eth-keyfile==0.5.1 eth-keys==0.3.4 "
    "eth-rlp==0.2.1 eth-typing==2.3.0 eth-utils==1.10.0 ethereum-dasm==0.1.4 ethereum-etl==2.4.2 "
    "evmdasm==0.1.10 frozenlist==1.8.0 hexbytes==0.3.1 idna==3.21 importlib_metadata==10.2.0 "
    "ipfshttpclient==0.8.0a2 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 "
    "lazy-importer==0.1.0 lru-dict==1.4.1 mmh3==5.3.1 morphys==1.0 multiaddr==0.2.0 "
    "multidict==7.2.1 mypy_extensions==1.2.0 netaddr==1.3.0 outcome==1.3.0.post0 packaging==26.4 "
    "parsimonious==0.9.0 propcache==0.5.4 protobuf==3.19.5 psutil==7.2.2 py-cid==0.5.0 "
    "py-multibase==2.0.0 py-multicodec==1.0.0 py-multihash==3.0.0 pycryptodome==3.24.1 "
    "python-baseconv==1.2.2 python-dateutil==2.9.0.post0 referencing==0.37.0 regex==2026.12.2 "
    "requests==2.34.2 rlp==2.0.1 rpds-py==2026.9.1 six==1.17.0 sniffio==1.3.1 "
    "sortedcontainers==2.4.0 tabulate==0.10.0 toolz==1.2.0 trio==0.35.0 trio-typing==0.10.0 "
    "typing_extensions==4.16.0 urllib3==1.26.20 varint==1.0.2 web3==5.31.4 websockets==9.1 "
    "yarl==1.25.1 zipp==4.1.2"
).split()
ETL_VENV = REPO / ".tools" / "ethereum-etl-venv"

# The log emitter, hand-written EVM code (no compiler needed). Runtime: store 1000 at memory
# 0, then for each 32-byte word w of the calldata: LOG3(mem[0:32], Transfer topic, CALLER, w),
# so one call logs one ERC20 Transfer(caller -> w, 1000) per word. Offsets in the comments.
_RUNTIME = "".join(
    [
        "6103e8",  # 00 PUSH2 1000
        "6000",  # 03 PUSH1 0
        "52",  # 05 MSTORE: mem[0:32] = 1000
        "6000",  # 06 PUSH1 0: i, the calldata offset
        "5b",  # 08 JUMPDEST: the loop
        "8036111560" + "3f" + "57",  # 09 DUP1 CALLDATASIZE GT ISZERO PUSH1 0x3f JUMPI: done?
        "803533",  # 10 DUP1 CALLDATALOAD CALLER: caller, word, i
        "7f" + TRANSFER_TOPIC[2:],  # 13 PUSH32 the Transfer topic
        "60206000a3",  # 34 PUSH1 32 PUSH1 0 LOG3(mem[0:32], topic, caller, word)
        "602001",  # 39 PUSH1 32 ADD: i += 32
        "600856",  # 3c PUSH1 8 JUMP
        "5b00",  # 3f JUMPDEST STOP
    ]
)
# Creation code (11 bytes): copy the runtime, which follows it, to memory 0 and return it.
EMITTER_CODE = "0x60" + f"{len(_RUNTIME) // 2:02x}" + "80600b6000396000f3" + _RUNTIME


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu seconds)
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(d.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, (0, 0.0))[1]
        todo += [c for c, (parent, _) in stats.items() if parent == p]
    return total


# --------------------------------------------------------------------------- ethereum-etl


def etl_binary() -> Path:
    """`ethereumetl` of the bench's own venv, made on first use (and again if the pins
    changed) from PyPI with the pinned versions above."""
    stamp = ETL_VENV / "pins.sha256"
    digest = hashlib.sha256("\n".join(ETL_PINS).encode()).hexdigest()
    exe = ETL_VENV / "bin" / "ethereumetl"
    if exe.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return exe
    log(f"creating {ETL_VENV} (ethereum-etl 2.4.2, pinned; first run only)")
    shutil.rmtree(ETL_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(ETL_VENV)], check=True)
    pip = [str(ETL_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run([*pip, *ETL_PINS], check=True)
    stamp.write_text(digest + "\n")
    return exe


def run_etl(exe: Path, url: str, first: int, last: int, out: Path) -> dict[str, Any]:
    """ethereum-etl's two exports of the range, one after the other, with its defaults; the
    seconds of each and the rows written."""
    out.mkdir(parents=True, exist_ok=True)
    common = ["--start-block", str(first), "--end-block", str(last), "--provider-uri", url]
    runs = {
        "blocks_and_transactions": [
            "export_blocks_and_transactions",
            *common,
            "--blocks-output",
            str(out / "blocks.csv"),
            "--transactions-output",
            str(out / "transactions.csv"),
        ],
        "token_transfers": [
            "export_token_transfers",
            *common,
            "--output",
            str(out / "token_transfers.csv"),
        ],
    }
    res: dict[str, Any] = {}
    total = 0.0
    for name, args in runs.items():
        t0 = time.perf_counter()
        p = subprocess.run([str(exe), *args], capture_output=True, text=True, check=False)
        secs = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(f"ethereumetl {args[0]} failed: {p.stderr[-2000:]}")
        res[f"etl_{name}_s"] = secs
        total += secs
    res["etl_s"] = total

    def rows(name: str) -> int:
        with open(out / name) as f:
            return sum(1 for _ in f) - 1

    res["etl_rows"] = {
        n: rows(n) for n in ("blocks.csv", "transactions.csv", "token_transfers.csv")
    }
    return res


# --------------------------------------------------------------------------- the chain


def rpc_batch(url: str, calls: list[tuple[str, list[Any]]], timeout: float = 60) -> list[Any]:
    """One JSON-RPC batch; results in order; any error raises."""
    body = orjson.dumps(
        [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    )
    req = urllib.request.Request(
        url, data=body, headers={"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        answer = orjson.loads(resp.read())
    by_id = {a["id"]: a for a in answer}
    out = []
    for i, (m, _) in enumerate(calls):
        a = by_id[i]
        if a.get("error"):
            raise RuntimeError(f"{m}: {a['error']}")
        out.append(a.get("result"))
    return out


def rpc(url: str, method: str, *params: Any) -> Any:
    return rpc_batch(url, [(method, list(params))])[0]


ANVIL_SENDERS = (
    "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
    "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
)


@dataclass
class Filled:
    """What the chain holds: the range, the hits (tx hash, log index or None), the markers."""

    first: int
    last: int
    head: int
    hits: dict[tuple[str, int | None], int] = field(default_factory=dict)  # -> block number
    first_markers: list[tuple[str, int | None]] = field(default_factory=list)
    last_markers: list[tuple[str, int | None]] = field(default_factory=list)
    transfers: int = 0
    fill_s: float = 0.0


def fill_chain(url: str, args: argparse.Namespace, watched: list[str]) -> Filled:
    """Deploy the emitter, then mine args.blocks blocks of args.txs native transfers and one
    emitter call of args.logs logs each (eth_sendTransaction from anvil's unlocked accounts,
    one batch per block, then evm_mine), then TAIL_BLOCKS empty blocks."""
    t0 = time.perf_counter()
    rng = random.Random(7)
    native, caller = ANVIL_SENDERS
    fee = {"gasPrice": hex(2 * 10**9)}
    deploy = rpc(url, "eth_sendTransaction", {"from": caller, "data": EMITTER_CODE, **fee})
    rpc(url, "evm_mine")
    rcpt = rpc(url, "eth_getTransactionReceipt", deploy)
    emitter = rcpt["contractAddress"]
    first = int(rpc(url, "eth_blockNumber"), 16) + 1
    last = first + args.blocks - 1
    filled = Filled(first, last, 0)
    nonces = {a: int(rpc(url, "eth_getTransactionCount", a, "pending"), 16) for a in ANVIL_SENDERS}
    log_gas = 60_000 + args.logs * 2_600
    for number in range(first, last + 1):
        edge = markers(watched, number, CHAIN, PARTITIONS) if number in (first, last) else []
        tos = rand_hex(20, args.txs + args.logs)
        hit_at = {i for i in range(len(tos)) if rng.random() < args.hit_rate}
        for i in hit_at:
            tos[i] = rng.choice(watched)
        calls: list[tuple[str, list[Any]]] = []
        native_tos = tos[: args.txs] + edge
        for to in native_tos:
            tx = {"from": native, "to": to, "value": hex(rng.randrange(1, 10**15)), "gas": "0x5208"}
            tx["nonce"] = hex(nonces[native])
            nonces[native] += 1
            calls.append(("eth_sendTransaction", [{**tx, **fee}]))
        log_tos = tos[args.txs :] + edge
        data = "0x" + "".join(a[2:].rjust(64, "0") for a in log_tos)
        calls.append(
            (
                "eth_sendTransaction",
                [
                    {
                        "from": caller,
                        "to": emitter,
                        "data": data,
                        "gas": hex(log_gas + 2_600 * len(edge) + 16 * 32 * len(log_tos)),
                        "nonce": hex(nonces[caller]),
                        **fee,
                    }
                ],
            )
        )
        nonces[caller] += 1
        hashes = rpc_batch(url, calls)
        rpc(url, "evm_mine")
        call_hash = hashes[-1]
        for i in hit_at:
            if i < args.txs:
                filled.hits[(hashes[i], None)] = number
        edge_native = [(hashes[args.txs + j], None) for j in range(len(edge))]
        # logs of the one call: log index = position in this block (the call is the last tx)
        edge_logs = [(call_hash, args.logs + j) for j in range(len(edge))]
        for i in hit_at:
            if i >= args.txs:
                filled.hits[(call_hash, i - args.txs)] = number
        for k in edge_native + edge_logs:
            filled.hits[k] = number
        if number == first:
            filled.first_markers = edge_native + edge_logs
        if number == last:
            filled.last_markers = edge_native + edge_logs
        filled.transfers += len(native_tos) + len(log_tos)
    # spot check: the last block holds every transaction, the call succeeded with its logs
    blk = rpc(url, "eth_getBlockByNumber", hex(last), False)
    rcpts = rpc(url, "eth_getBlockReceipts", hex(last))
    want = args.txs + PARTITIONS + 1
    if len(blk["transactions"]) != want or len(rcpts[-1]["logs"]) != args.logs + PARTITIONS:
        raise RuntimeError(
            f"block {last}: {len(blk['transactions'])} txs (want {want}), "
            f"{len(rcpts[-1]['logs'])} logs in the call"
        )
    if any(int(r["status"], 16) != 1 for r in rcpts):
        raise RuntimeError(f"block {last}: a transaction failed")
    rpc(url, "anvil_mine", hex(TAIL_BLOCKS))
    filled.head = int(rpc(url, "eth_blockNumber"), 16)
    filled.fill_s = time.perf_counter() - t0
    return filled


def start_anvil(port: int, logfile: Path, core: int | None = None) -> Any:
    """anvil for the bench: room for big blocks, mining only on request; on one core of its
    own when `core` is given (every thread it starts inherits it)."""
    args = [
        *(["taskset", "-c", str(core)] if core is not None else []),
        procs.anvil_binary(),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--chain-id",
        str(CHAIN_ID),
        "--gas-limit",
        str(GAS_LIMIT),
        "--no-mining",
    ]
    proc = procs.spawn(args, logfile)
    procs.wait_port("127.0.0.1", port, 20, proc)
    return proc


# --------------------------------------------------------------------------- the bare fetch


async def bare_fetch(url: str, first: int, last: int, batch: int, in_flight: int) -> float:
    """The blocks with full transactions and their receipts by batched JSON-RPC from one
    aiohttp client, `in_flight` batches at a time, parsed with orjson: the least any indexer
    must do; returns the seconds."""
    starts = deque(range(first, last + 1, batch))
    got = {"txs": 0, "logs": 0}

    async def run(session: aiohttp.ClientSession) -> None:
        while starts:
            start = starts.popleft()
            payload = []
            for n in range(start, min(last, start + batch - 1) + 1):
                payload.append(
                    {
                        "jsonrpc": "2.0",
                        "id": 2 * n,
                        "method": "eth_getBlockByNumber",
                        "params": [hex(n), True],
                    }
                )
                payload.append(
                    {
                        "jsonrpc": "2.0",
                        "id": 2 * n + 1,
                        "method": "eth_getBlockReceipts",
                        "params": [hex(n)],
                    }
                )
            async with session.post(
                url, data=orjson.dumps(payload), headers={"content-type": "application/json"}
            ) as resp:
                body = await resp.read()
            for item in orjson.loads(body):
                res = item["result"]
                if item["id"] % 2 == 0:
                    got["txs"] += len(res["transactions"])
                else:
                    got["logs"] += sum(len(r["logs"]) for r in res)

    async with aiohttp.ClientSession() as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(run(session) for _ in range(in_flight)))
        secs = time.perf_counter() - t0
    want = (last - first + 1) * 2
    if got["txs"] < want or got["logs"] < want:
        raise RuntimeError(f"bare fetch got {got}, want at least {want} of each")
    return secs


# --------------------------------------------------------------------------- blockhook


@dataclass
class Tap:
    """Reads the events topic in the background: arrival time of the first event per
    (tx hash, log index)."""

    bootstrap: str
    topic: str
    seen: dict[tuple[str, int | None], float] = field(default_factory=dict)
    events: int = 0
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=20,
        )
        await self._consumer.start()
        parts = self._consumer.partitions_for_topic(self.topic) or set(range(PARTITIONS))
        tps = [TopicPartition(self.topic, p) for p in parts]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now, not at the first fetch
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for msgs in batch.values():
                for m in msgs:
                    ev = orjson.loads(m.value)
                    self.events += 1
                    self.seen.setdefault((ev["tx_hash"], ev.get("log_index")), now)

    async def wait(self, keys: list[tuple[str, int | None]], timeout_s: float) -> float:
        """Until every key has arrived; returns the latest arrival."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(k in self.seen for k in keys):
                return max(self.seen[k] for k in keys)
            await asyncio.sleep(0.005)
        missing = [k for k in keys if k not in self.seen]
        raise TimeoutError(f"{len(missing)} of {len(keys)} events not seen, e.g. {missing[:2]}")

    def reset(self) -> None:
        self.seen.clear()
        self.events = 0

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


def worker_toml(root: Path, broker_port: int, api_port: int, rpc_url: str) -> str:
    master = root / "master.key"
    write_private(master, new_master_key() + "\n")
    return "\n".join(
        [
            f'broker = "kafka://127.0.0.1:{broker_port}"',
            f'data_dir = "{root / "data"}"',
            f"partitions = {PARTITIONS}",
            f'api_bind = "127.0.0.1:{api_port}"',
            "",
            "[auth]",
            f'master_key_file = "{master}"',
            "",
            "[[chains]]",
            f'name = "{CHAIN}"',
            f"chain_id = {CHAIN_ID}",
            f'rpc_urls = ["{rpc_url}"]',
            f"confirmations = {CONFIRMATIONS}",
            f"finality_depth = {FINALITY}",
            "",
        ]
    )


def wait_ready(api: str, proc: Any, timeout_s: float = 300) -> None:
    """Until /readyz says ready (recovered, assigned, views caught up, the chain's head fresh)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{api}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.3)
    raise TimeoutError("worker not ready")


def backfill_cmd(cfg: Path, first: int, last: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "blockhook",
        "backfill",
        "--config",
        str(cfg),
        "--chain",
        CHAIN,
        "--from",
        str(first),
        "--to",
        str(last),
    ]


async def blockhook_runs(
    args: argparse.Namespace,
    root: Path,
    rpc_url: str,
    anvil_pid: int,
    watched: list[str],
    filled: Filled,
) -> dict[str, Any]:
    """(b) `blockhook backfill` against a worker with the watch lists in place, then (d) the
    pipeline alone on a pre-filled blocks topic."""
    broker_port, api_port = procs.free_port(), procs.free_port()
    (root / "logs").mkdir(parents=True, exist_ok=True)
    cfg_path = root / "blockhook.toml"
    cfg_path.write_text(worker_toml(root, broker_port, api_port, rpc_url))
    s = Settings(
        broker=f"kafka://127.0.0.1:{broker_port}",
        partitions=PARTITIONS,
        chains=[ChainSettings(name=CHAIN, chain_id=CHAIN_ID, rpc_urls=[rpc_url])],
    )
    bootstrap = s.bootstrap_servers
    api = f"http://127.0.0.1:{api_port}"
    out: dict[str, Any] = {"watched": len(watched)}
    broker = procs.start_broker(broker_port, root / "logs/broker.log")
    worker = None
    tap = Tap(bootstrap, s.topic("events"))
    try:
        await ensure_topics(s)
        worker = procs.start_worker(cfg_path, root / "logs/worker.log")
        wait_ready(api, worker)
        t0 = time.perf_counter()
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, max_request_size=16 * 1024 * 1024, linger_ms=5
        )
        await producer.start()
        try:
            ids = [f"mon_bench{i:04d}" for i in range(args.monitors)]
            for i, mid in enumerate(ids):
                part = watched[i * args.per_monitor : (i + 1) * args.per_monitor]
                mon = {"id": mid, "name": f"bench {i}", "chain": CHAIN, "addresses": part}
                await producer.send_and_wait(
                    s.topic("monitors"), orjson.dumps(mon), key=mid.encode()
                )
        finally:
            await producer.stop()
        await wait_applied(bootstrap, s.topic("monitors.applied"), set(ids))
        await wait_changelog(
            bootstrap, f"{s.app_id}-watch_lists-changelog", args.monitors * PARTITIONS
        )
        out["watch_setup_s"] = time.perf_counter() - t0
        log(f"{len(watched):,} addresses applied and folded in {out['watch_setup_s']:.1f}s")
        await asyncio.sleep(2)  # the follower's first polls are done; the worker is idle
        await tap.start()

        # (b) the command as a user runs it, until the last block's events are out
        log(f"(b) blockhook backfill {filled.first}..{filled.last}")
        pids = {"anvil": anvil_pid, "broker": broker.pid, "worker": worker.pid}
        cpu0 = {k: tree_cpu_s(p) for k, p in pids.items()}
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        cmd = await asyncio.create_subprocess_exec(
            *backfill_cmd(cfg_path, filled.first, filled.last),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        cmd_wait = asyncio.create_task(cmd.communicate())
        events = asyncio.create_task(tap.wait(filled.last_markers, 900))
        await asyncio.wait({cmd_wait, events}, return_when=asyncio.FIRST_COMPLETED)
        if cmd_wait.done() and cmd.returncode != 0:  # failed: no need to wait for events
            events.cancel()
            raise RuntimeError(f"blockhook backfill failed: {cmd_wait.result()[1].decode()}")
        t_last = await events
        cpu1 = {k: tree_cpu_s(p) for k, p in pids.items()}
        _, stderr = await cmd_wait
        t_cmd = time.perf_counter()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = {k: cpu1[k] - cpu0[k] for k in pids}
        cpu["command"] = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
        out["blockhook_cpu_s"] = cpu
        if cmd.returncode != 0:
            raise RuntimeError(f"blockhook backfill failed: {stderr.decode()[-2000:]}")
        out["blockhook_s"] = t_last - t0
        out["blockhook_cmd_s"] = t_cmd - t0
        await asyncio.sleep(2)
        out["hits"] = len(filled.hits)
        out["hits_missing"] = sum(1 for h in filled.hits if h not in tap.seen)
        out["events_b"] = tap.events
        log(
            f"(b) last block's events after {out['blockhook_s']:.2f}s (the command exited "
            f"after {out['blockhook_cmd_s']:.2f}s); {out['hits_missing']} of {out['hits']} "
            "hits missing"
        )

        # (d) the pipeline alone: the range's block messages made ahead (as the command
        # makes them), published while the worker is stopped (SIGSTOP, well inside its
        # session time-out), then the worker resumed: its rate on a pre-filled topic.
        chain = s.chain(CHAIN)
        assert chain is not None
        source = BlockSource(chain)
        messages: list[tuple[bytes, bytes]] = []

        async def keep(batch: list[tuple[bytes, bytes]]) -> None:
            messages.extend(batch)

        t0 = time.perf_counter()
        try:
            await backfill_range(source, keep, filled.first, filled.last)
        finally:
            await source.close()
        out["fetch_normalize_s"] = time.perf_counter() - t0
        await asyncio.sleep(3)  # the worker is done with (b)'s re-sends
        tap.reset()
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, max_request_size=16 * 1024 * 1024, linger_ms=5
        )
        await producer.start()
        os.kill(worker.pid, signal.SIGSTOP)
        try:
            t0 = time.perf_counter()
            sent = [await producer.send(s.topic("blocks"), v, key=k) for k, v in messages]
            await asyncio.gather(*sent)
            out["prefill_s"] = time.perf_counter() - t0
        finally:
            os.kill(worker.pid, signal.SIGCONT)
            await producer.stop()
        t0 = time.perf_counter()
        t_last = await tap.wait(filled.last_markers, 900)
        per_block = args.txs + args.logs
        n = filled.transfers
        out["pipeline_s"] = t_last - t0
        out["pipeline_rate"] = n / (t_last - t0)
        out["pipeline_blocks_per_s"] = args.blocks / (t_last - t0)
        out["pipeline_bytes_mb"] = sum(len(v) for _, v in messages) / 1e6
        out["worker_rss_peak_mb"] = vm_kb(worker.pid, "VmHWM") / 1024
        await asyncio.sleep(1)
        out["pipeline_hits_missing"] = sum(1 for h in filled.hits if h not in tap.seen)
        log(
            f"(d) pipeline: {n:,} transfers ({per_block} a block) in {out['pipeline_s']:.2f}s "
            f"from a topic filled in {out['prefill_s']:.2f}s; fetch and normalise alone took "
            f"{out['fetch_normalize_s']:.2f}s"
        )
    finally:
        await tap.stop()
        procs.stop(worker)
        procs.stop(broker, 5)
    return out


# --------------------------------------------------------------------------- main


def report(r: dict[str, Any]) -> None:
    print("\n== blockhook backfill benchmark ==")
    print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}")
    if r["pin_node"]:
        print("anvil on a core of its own, everything else on the other")
    print(
        f"chain: {r['blocks']} blocks x ({r['txs']} native transfers + 1 call of {r['logs']} "
        f"ERC20 Transfer logs) = {r['transfers']:,} transfers; filled in {r['fill_s']:.1f}s"
    )
    if "etl_s" in r:
        print(
            f"(a) ethereum-etl 2.4.2:  {r['etl_s']:>7.2f} s  (blocks and transactions "
            f"{r['etl_blocks_and_transactions_s']:.2f}s + token transfers "
            f"{r['etl_token_transfers_s']:.2f}s; its defaults; rows {r['etl_rows']})"
        )
    if "blockhook_s" in r:
        print(
            f"(b) blockhook backfill:  {r['blockhook_s']:>7.2f} s  (command start to the last "
            f"block's events; {r['watched']:,} watched, {r['hits']:,} hits, "
            f"{r['hits_missing']} missed; the command exited after {r['blockhook_cmd_s']:.2f}s)"
        )
        print(
            "    CPU seconds meanwhile: "
            + ", ".join(f"{k} {v:.2f}" for k, v in r["blockhook_cpu_s"].items())
        )
    print(
        f"(c) bare batched fetch: {r['bare_s']:>7.2f} s  ({r['in_flight']} batches of "
        f"{r['batch']} blocks in flight, as the backfill; runs "
        + ", ".join(f"{x:.2f}" for x in r["bare_runs_s"])
        + f"); one batch at a time: {r['bare_serial_s']:.2f} s"
    )
    if "pipeline_rate" in r:
        print(
            f"(d) pipeline on a pre-filled blocks topic: {r['pipeline_rate']:,.0f} transfers/s "
            f"({r['pipeline_blocks_per_s']:.0f} blocks/s, {r['pipeline_s']:.2f}s for the range, "
            f"{r['pipeline_hits_missing']} hits missed); fetch + normalise alone "
            f"{r['fetch_normalize_s']:.2f}s; worker RSS peak {r['worker_rss_peak_mb']:.0f} MB"
        )
    if r.get("ratio_etl") is not None:
        print(f"blockhook / ethereum-etl: {r['ratio_etl']:.2f}  (goal <= 0.50)")
    if r.get("ratio_bare") is not None:
        print(f"blockhook / bare fetch:   {r['ratio_bare']:.2f}  (goal <= 1.25)")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--blocks", type=int, default=500)
    ap.add_argument("--txs", type=int, default=100, help="native transfers per block")
    ap.add_argument("--logs", type=int, default=100, help="ERC20 Transfer logs per block")
    ap.add_argument("--monitors", type=int, default=100)
    ap.add_argument("--per-monitor", type=int, default=10_000)
    ap.add_argument("--hit-rate", type=float, default=0.01)
    ap.add_argument("--batch", type=int, default=20, help="blocks a batch (the backfill's)")
    ap.add_argument(
        "--in-flight", type=int, default=CONCURRENCY, help="batches at once (the backfill's)"
    )
    ap.add_argument(
        "--pin-node", action="store_true", help="anvil on a core of its own, the rest on the others"
    )
    ap.add_argument("--skip-etl", action="store_true")
    ap.add_argument("--skip-blockhook", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = ap.parse_args(argv)
    etl = None if args.skip_etl else etl_binary()
    root = Path(tempfile.mkdtemp(prefix="blockhook-bench-backfill-"))
    log(f"work dir {root}")
    (root / "logs").mkdir(parents=True)
    port = procs.free_port()
    url = f"http://127.0.0.1:{port}"
    node_core = None
    if args.pin_node:
        # The node on core 0, everything else (broker, worker, command, ethereum-etl, this
        # process) on the others: as with a node on its own machine.
        cores = sorted(os.sched_getaffinity(0))
        if len(cores) < 2:
            raise SystemExit("--pin-node needs two cores")
        node_core = cores[0]
        os.sched_setaffinity(0, cores[1:])
    anvil = start_anvil(port, root / "logs/anvil.log", node_core)
    r: dict[str, Any] = {
        "blocks": args.blocks,
        "txs": args.txs,
        "logs": args.logs,
        "batch": args.batch,
        "in_flight": args.in_flight,
        "pin_node": args.pin_node,
    }
    try:
        watched = rand_hex(20, args.monitors * args.per_monitor)
        log(f"filling anvil: {args.blocks} blocks of {args.txs} + {args.logs} transfers")
        filled = fill_chain(url, args, watched)
        r.update(transfers=filled.transfers, fill_s=filled.fill_s)
        log(f"filled blocks {filled.first}..{filled.last} in {filled.fill_s:.1f}s")

        def bare(in_flight: int) -> float:
            cpu0 = tree_cpu_s(anvil.pid), time.process_time()
            secs = asyncio.run(bare_fetch(url, filled.first, filled.last, args.batch, in_flight))
            cpu = tree_cpu_s(anvil.pid) - cpu0[0], time.process_time() - cpu0[1]
            r[f"bare_cpu_s_{in_flight}"] = {"anvil": cpu[0], "client": cpu[1]}
            log(
                f"(c) bare fetch, {in_flight} batches in flight: {secs:.2f}s "
                f"(CPU: anvil {cpu[0]:.2f}s, client {cpu[1]:.2f}s)"
            )
            return secs

        runs = [bare(args.in_flight)]
        r["bare_serial_s"] = bare(1)
        if etl is not None:
            log("(a) ethereum-etl")
            r.update(run_etl(etl, url, filled.first, filled.last, root / "etl"))
            log(f"(a) {r['etl_s']:.2f}s")
        if not args.skip_blockhook:
            r.update(
                asyncio.run(
                    blockhook_runs(args, root / "blockhook", url, anvil.pid, watched, filled)
                )
            )
        runs.append(bare(args.in_flight))
        r["bare_runs_s"] = runs
        r["bare_s"] = min(runs)
        if "blockhook_s" in r:
            r["ratio_etl"] = r["blockhook_s"] / r["etl_s"] if "etl_s" in r else None
            r["ratio_bare"] = r["blockhook_s"] / r["bare_s"]
    finally:
        procs.stop(anvil, 5)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    report(r)
    if args.json:
        args.json.write_text(json.dumps(r, indent=2) + "\n")
    return r


if __name__ == "__main__":
    main()
