"""`blockhook keys ...`: bootstrap API keys without the API, and reseal them after a master
key rotation."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click
import orjson
from pydantic import ValidationError

from blockhook.admin import ensure_topics
from core.errors import ConfigError
from core.settings import CONFIG_ENV, Settings
from schemas.access import KeyCreate
from streams.apikeys import resealed
from streams.secretbox import SecretBoxError, box_from_settings, new_master_key
from transport.kafkawrite import create_key, write_records
from views.keys import KeysView


def settings_for(config: str | None) -> Settings:
    """The settings of a command's --config file (and the environment)."""
    if config:
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    return Settings()


def run_create(
    config: str | None,
    principal: str,
    roles: list[str],
    allow_ips: list[str],
    expires_at: str | None,
) -> tuple[str, str]:
    """Create a key on the keys topic; returns its id and secret."""
    s = settings_for(config)
    try:
        body = KeyCreate(
            principal=principal,
            roles=roles,
            allowed_ips=allow_ips,
            expires_at=expires_at,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    box_from_settings(s.auth)  # a clear error before anything is written

    async def go() -> tuple[str, str]:
        await ensure_topics(s)
        try:
            record, secret = await create_key(
                s, body.principal, body.roles, body.allowed_ips, body.expires_at
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return str(record["id"]), secret

    return asyncio.run(go())


def run_reseal(config: str | None) -> tuple[int, list[str]]:
    """Seal every key's secret under the current master key; returns how many changed and
    the ids of keys no configured master key opens (they are left as they are)."""
    s = settings_for(config)
    box = box_from_settings(s.auth)

    async def go() -> tuple[int, list[str]]:
        await ensure_topics(s)
        view = KeysView(s, box)
        await view.start()
        try:
            await asyncio.wait_for(view.caught_up.wait(), 60)
        finally:
            await view.stop()
        out = []
        unopened = []
        for record in view.records.values():
            try:
                new = resealed(record, box)
            except SecretBoxError:
                unopened.append(str(record.get("id")))
                continue
            if new is not None:
                out.append((str(new["id"]).encode(), orjson.dumps(new)))
        await write_records(s, "keys", out)
        return len(out), unopened

    return asyncio.run(go())


@click.group()
def keys() -> None:
    """API keys: bootstrap one without the API; reseal after a master key rotation."""


@keys.command()
@click.option("--config", type=click.Path(exists=True, dir_okay=False), help="settings TOML file")
@click.option("--principal", required=True, help="the person or service (alice, payments)")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(["viewer", "operator", "approver", "admin", "signer"]),
)
@click.option("--allow-ip", "allow_ips", multiple=True, help="CIDR rule (repeat); none: any")
@click.option("--expires-at", default=None, help="RFC 3339 UTC, like 2027-01-01T00:00:00Z")
def create(
    config: str | None,
    principal: str,
    roles: tuple[str, ...],
    allow_ips: tuple[str, ...],
    expires_at: str | None,
) -> None:
    """Create a key; prints `<key_id> <secret>` once (the secret is kept only sealed)."""
    try:
        key_id, secret = run_create(config, principal, list(roles), list(allow_ips), expires_at)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{key_id} {secret}")
    click.echo("the secret is shown this once; store it now", err=True)


@keys.command()
@click.option("--config", type=click.Path(exists=True, dir_okay=False), help="settings TOML file")
def reseal(config: str | None) -> None:
    """Seal every key under the current master key (after a rotation; see docs/security.md)."""
    try:
        n, unopened = run_reseal(config)
    except (ConfigError, TimeoutError) as exc:
        raise click.ClickException(str(exc) or "the keys topic did not answer") from None
    click.echo(f"{n} keys resealed")
    if unopened:
        click.echo(
            f"{len(unopened)} keys no configured master key opens (they do not work): "
            + " ".join(sorted(unopened)),
            err=True,
        )
        sys.exit(1)


@keys.command("master-key")
def master_key() -> None:
    """Print a new random master key (base64 of 32 bytes) for auth.master_key."""
    click.echo(new_master_key())
