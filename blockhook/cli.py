"""The `blockhook` command: dev, worker, backfill, keys, admin, call, wallet."""

from __future__ import annotations

import importlib
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click

from core.errors import BlockhookError


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class LazyGroup(click.Group):
    """A group whose heavier subcommands (`name: "module:attribute"`) are imported only when
    one of them is run or listed: `blockhook backfill` and `blockhook worker` start without
    loading the key and operator commands (argon2, the access schemas: ~0.5 s)."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


LAZY_COMMANDS = {
    "keys": "blockhook.keys_cmd:keys",
    "admin": "blockhook.operators_cmd:admin",
    "call": "blockhook.call_cmd:call",
}


@click.group(cls=LazyGroup, lazy=LAZY_COMMANDS)
def main() -> None:
    """blockhook: transfers on EVM chains to signed webhooks and Kafka topics."""


@main.command()
@click.option("--config", type=click.Path(exists=True, dir_okay=False), help="settings TOML file")
def worker(config: str | None) -> None:
    """One Faust worker against Kafka; start more with the same config to scale."""
    from blockhook.worker import run_worker

    run_worker(config)


@main.command()
@click.option("--config", type=click.Path(exists=True, dir_okay=False), help="settings TOML file")
@click.option("--chain", "chain_name", required=True, help="chain name from the settings")
@click.option("--from", "start", type=click.IntRange(min=0), required=True, help="first block")
@click.option("--to", "end", type=click.IntRange(min=0), required=True, help="last block")
@click.option("--monitor", "monitors", multiple=True, help="only these monitors (default: all)")
def backfill(
    config: str | None, chain_name: str, start: int, end: int, monitors: tuple[str, ...]
) -> None:
    """Re-scan a block range into the pipeline (events keep their ids: no double credits)."""
    from blockhook.backfill_cmd import run_backfill

    try:
        run_backfill(config, chain_name, start, end, list(monitors) or None)
    except BlockhookError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@main.command()
@click.option("--broker-port", default=9092, show_default=True, help="embedded broker port")
@click.option("--anvil-port", default=8545, show_default=True, help="anvil port")
@click.option("--api-port", default=8000, show_default=True, help="HTTP API port")
@click.option("--rpc", default=None, help="use this EVM node instead of starting anvil")
@click.option(
    "--block-time",
    default=1.0,
    show_default=True,
    help="anvil block time in seconds (0: a block per transaction)",
)
@click.option("--confirmations", default=3, show_default=True, help="confirmations on chain local")
@click.option(
    "--dir",
    "root",
    default=".blockhook/dev",
    show_default=True,
    help="scratch directory, wiped at start (the embedded broker keeps nothing)",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=9),
    default=1,
    show_default=True,
    help="workers in the group; worker n serves its API on --api-port + n - 1",
)
def dev(
    broker_port: int,
    anvil_port: int,
    api_port: int,
    rpc: str | None,
    block_time: float,
    confirmations: int,
    root: str,
    workers: int,
) -> None:
    """Embedded default: broker, anvil, one worker (or --workers N) and the API on
    127.0.0.1."""
    try:
        from dev.devstack import DevConfig, DevStack
    except ModuleNotFoundError as exc:  # a production install leaves the dev room out
        click.echo(f"error: the dev tooling is not installed here ({exc.name})", err=True)
        sys.exit(2)

    cfg = DevConfig(
        root=Path(root).resolve(),
        broker_port=broker_port,
        anvil_port=anvil_port,
        api_port=api_port,
        rpc=rpc,
        block_time=block_time or None,
        confirmations=confirmations,
    )
    stack = DevStack(cfg)
    # Both stop everything. SIGINT explicitly too: a shell starting this in the background
    # (`blockhook dev &` in a script) passes SIGINT on as ignored, and Python keeps it so.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    others: list[Any] = []
    try:
        stack.start_infra()
        stack.start_worker()
        for n in range(2, workers + 1):  # together: they join the group in one round
            others.append(stack.start_other_worker(str(n), api_port + n - 1))
        stack.wait_ready()
        for n, other in enumerate(others, start=2):
            url = f"http://127.0.0.1:{api_port + n - 1}"
            stack.wait_ready(url=url, proc=other, name=str(n))
        admin = stack.create_admin_key()
        signer = stack.start_signer()
        console_url, password = stack.create_console_operator("admin")
        click.echo(f"blockhook admin key {admin.key_id} {admin.secret}", err=False)
        click.echo(f"blockhook console {console_url} operator admin password {password}")
        click.echo(f"blockhook ready {cfg.api_url}", err=False)
        sys.stdout.flush()
        click.echo(
            f"  chain local (id {cfg.chain_id}) at {cfg.rpc_url}; logs in {cfg.root}/logs", err=True
        )
        click.echo(f"  blockhook-signer (no limits) keystore {signer.keystore}", err=True)
        for n in range(2, workers + 1):
            click.echo(
                f"  worker {n}: http://127.0.0.1:{api_port + n - 1}, settings "
                f"{cfg.root}/blockhook-{n}.toml",
                err=True,
            )
        while stack.worker is not None and stack.worker.poll() is None:
            time.sleep(0.5)
        click.echo(f"worker exited; see {cfg.root}/logs/worker.log", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("stopping", err=True)
    except BlockhookError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    finally:
        from dev import procs

        procs.stop_all(others)
        stack.stop()


@main.group()
def wallet() -> None:
    """Wallets (extended public keys): bulk derivation."""


@wallet.command()
@click.option("--config", type=click.Path(exists=True, dir_okay=False), help="settings TOML file")
@click.option("--wallet", "wallet_id", default=None, help="wallet id (its xpub is read from Kafka)")
@click.option("--xpub", default=None, help="or an account-level xpub, offline")
@click.option("--count", type=click.IntRange(min=1, max=2**31), required=True)
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), default=None, help="file (default stdout)"
)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True
)
@click.option(
    "--jobs", type=click.IntRange(min=1, max=256), default=None, help="processes (default: CPUs)"
)
def derive(**options: Any) -> None:
    """Derive receiving addresses <account>/0/<index> locally, with a progress bar and the rate."""
    from blockhook.cli_wallet import DeriveJob, run_derive

    try:
        run_derive(DeriveJob(**options))
    except BlockhookError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
