"""`blockhook admin create-operator`: bootstrap a console operator without the console (the
first admin), or give an existing one a new password (`--reset`)."""

from __future__ import annotations

import asyncio
import sys

import click

from blockhook.admin import ensure_topics
from blockhook.keys_cmd import settings_for
from console.bootstrap import create_operator
from core.errors import ConfigError
from core.settings import Settings
from streams import operators as ops


async def _create(
    s: Settings, name: str, roles: list[str], password: str | None, reset: bool
) -> str:
    await ensure_topics(s)
    return await create_operator(s, name, roles, password, reset)


@click.group()
def admin() -> None:
    """Console operators: bootstrap the first one."""


@admin.command("create-operator")
@click.option("--config", type=click.Path(exists=True, dir_okay=False), help="settings TOML file")
@click.option("--name", required=True, help="the person (alice)")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(list(ops.CONSOLE_ROLES)),
    help="repeat for several (admin manages keys and operators; approver approves)",
)
@click.option(
    "--password-stdin", is_flag=True, help="read the password from standard input (else made)"
)
@click.option("--reset", is_flag=True, help="give an existing operator a new password")
def create_operator_cmd(
    config: str | None, name: str, roles: tuple[str, ...], password_stdin: bool, reset: bool
) -> None:
    """Create an operator; prints the password once when it was made here."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    s = settings_for(config)
    try:
        made = asyncio.run(_create(s, name, list(roles), password, reset))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if password is None:
        click.echo(f"operator {name} password {made}")
        click.echo("the password is shown this once; it is kept only as an argon2 hash", err=True)
    else:
        click.echo(f"operator {name} {'reset' if reset else 'created'}")
