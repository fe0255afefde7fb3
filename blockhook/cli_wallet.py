"""`blockhook wallet derive`: derive a wallet's receiving addresses locally, in bulk.

It derives (index, address, path) for a range of indices from the wallet's xpub, read from
the wallets topic (or given with --xpub), and writes them as CSV or JSON lines. It assigns
nothing: customers get addresses through POST /v1/wallets/{id}/addresses, whose indices are
the same derivation, so this list is what a custodian reconciles or pre-computes against.
Chunks are derived in parallel processes; a progress bar and the rate go to stderr.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from chain.hd import MAX_INDEX, XpubError, derive_range, parse_account_xpub
from core.errors import ConfigError
from core.settings import CONFIG_ENV, Settings
from transport.kafkaread import StartEnds

CHUNK = 5000


async def wallet_xpub(s: Settings, wallet_id: str, timeout_s: float = 30.0) -> tuple[str, bool]:
    """The wallet's xpub from the wallets topic (read to its end), and whether its chain is
    a testnet. Raises ConfigError when there is no such wallet."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=s.bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        topic = s.topic("wallets")
        tps = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = StartEnds(tps)
        found: dict[str, object] | None = None
        deadline = time.monotonic() + timeout_s
        while not await ends.reached(consumer):
            if time.monotonic() > deadline:
                raise ConfigError(f"{topic} not read to its end within {timeout_s:g} s")
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    if r.key == wallet_id.encode():
                        found = orjson.loads(r.value) if r.value is not None else None
    finally:
        await consumer.stop()
    if not isinstance(found, dict) or not isinstance(found.get("xpub"), str):
        raise ConfigError(f"no wallet {wallet_id} on {s.topic('wallets')}")
    chain = s.chain(str(found.get("chain")))
    return str(found["xpub"]), bool(chain and chain.testnet)


def _write(out: IO[str], fmt: str, prefix: str, pairs: list[tuple[int, str]]) -> None:
    if fmt == "csv":
        out.write("".join(f"{i},{a},{prefix}/0/{i}\n" for i, a in pairs))
    else:
        out.write(
            "".join(
                orjson.dumps({"index": i, "address": a, "path": f"{prefix}/0/{i}"}).decode() + "\n"
                for i, a in pairs
            )
        )


@dataclass(frozen=True)
class DeriveJob:
    """What `blockhook wallet derive` was asked for (its options, by name)."""

    config: str | None
    wallet_id: str | None
    xpub: str | None
    count: int
    start: int
    output: str | None
    fmt: str
    jobs: int | None


def run_derive(job: DeriveJob) -> float:
    """Derive job.count addresses from job.start; returns the rate (addresses per second)."""
    config, wallet_id, xpub, count = job.config, job.wallet_id, job.xpub, job.count
    start, output, fmt, jobs = job.start, job.output, job.fmt, job.jobs
    if config:
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    if (wallet_id is None) == (xpub is None):
        raise ConfigError("give either --wallet (read from the wallets topic) or --xpub")
    testnet_ok = True
    if wallet_id is not None:
        xpub, testnet_ok = asyncio.run(wallet_xpub(Settings(), wallet_id))
    assert xpub is not None
    try:
        key = parse_account_xpub(xpub, testnet_ok=testnet_ok)
    except XpubError as exc:
        raise ConfigError(exc.message) from None
    if start + count - 1 > MAX_INDEX:
        raise ConfigError(f"indices stop at {MAX_INDEX} (non-hardened children)")
    jobs = max(1, jobs or os.cpu_count() or 1)
    chunks = [(s, min(CHUNK, start + count - s)) for s in range(start, start + count, CHUNK)]
    out: IO[str] = open(output, "w", encoding="utf-8") if output else sys.stdout
    if fmt == "csv":
        out.write("index,address,path\n")
    t0 = time.perf_counter()
    try:
        with (
            click.progressbar(
                length=count,
                label=f"deriving {key.path_prefix}/0/*",
                file=sys.stderr,
                show_pos=True,
            ) as bar,
            ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else _Inline() as pool,
        ):
            results = pool.map(_derive_chunk, [(xpub, testnet_ok, s, n) for s, n in chunks])
            for pairs in results:
                _write(out, fmt, key.path_prefix, pairs)
                bar.update(len(pairs))
    finally:
        if output:
            out.close()
        else:
            out.flush()
    elapsed = time.perf_counter() - t0
    rate = count / elapsed if elapsed > 0 else float("inf")
    click.echo(
        f"derived {count} addresses ({start}..{start + count - 1}) in {elapsed:.2f} s: "
        f"{rate:,.0f} addresses/s with {jobs} process(es)",
        err=True,
    )
    return rate


def _derive_chunk(args: tuple[str, bool, int, int]) -> list[tuple[int, str]]:
    xpub, testnet_ok, start, count = args
    return derive_range(xpub, testnet_ok, start, count)


class _Inline:
    """A one-process stand-in for the pool (--jobs 1)."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(
        self, fn: object, items: list[tuple[str, bool, int, int]]
    ) -> list[list[tuple[int, str]]]:
        return [_derive_chunk(a) for a in items]
