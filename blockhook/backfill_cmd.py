"""`blockhook backfill`: publish a block range to the blocks topic, with a progress bar."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from chain.backfill import backfill_range
from chain.follower import BlockSource
from core.errors import ConfigError, RpcError
from core.settings import CONFIG_ENV, Settings


def run_backfill(
    config: str | None, chain_name: str, start: int, end: int, monitors: list[str] | None
) -> None:
    """Fetch blocks start..end from the chain's nodes and publish them marked as backfill."""
    if config:
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    s = Settings()
    chain = s.chain(chain_name)
    if chain is None:
        known = ", ".join(c.name for c in s.chains) or "none"
        raise ConfigError(f"unknown chain {chain_name!r} (known: {known})")
    if end < start:
        raise ConfigError("--to must not be below --from")
    asyncio.run(_run(s, chain_name, start, end, monitors))


async def _run(
    s: Settings, chain_name: str, start: int, end: int, monitors: list[str] | None
) -> None:
    chain = s.chain(chain_name)
    assert chain is not None
    source = BlockSource(chain)
    # A batch of blocks goes out as one record batch (aiokafka's default batch is 16 KiB,
    # smaller than one block, so each block was its own produce request and round trip).
    producer = AIOKafkaProducer(
        bootstrap_servers=s.bootstrap_servers,
        acks="all",
        max_request_size=16 * 1024 * 1024,
        max_batch_size=4 * 1024 * 1024,
    )
    topic = s.topic("blocks")
    try:
        head = await source.head()
        if end > head:
            raise ConfigError(f"--to {end} is above the node's head {head}")
        await producer.start()

        async def publish(messages: list[tuple[bytes, bytes]]) -> None:
            futures = [await producer.send(topic, value=v, key=k) for k, v in messages]
            for f in futures:
                await f

        with click.progressbar(
            length=end - start + 1, label=f"{chain_name} {start}..{end}", file=None, show_pos=True
        ) as bar:
            n = await backfill_range(source, publish, start, end, monitors, progress=bar.update)
        click.echo(f"published {n} blocks of {chain_name} ({start}..{end})")
    except (KafkaError, RpcError) as exc:
        raise ConfigError(f"backfill failed: {exc}") from exc
    finally:
        await source.close()
        await producer.stop()
