"""`blockhook` loads its heavier subcommands only when one is run or listed."""

from __future__ import annotations

import subprocess
import sys

import click

from blockhook.cli import LAZY_COMMANDS, main


def test_importing_the_command_loads_none_of_the_lazy_subcommands() -> None:
    code = (
        "import sys, blockhook.cli; "
        "print(sorted(m for m in sys.modules if m in "
        "('blockhook.keys_cmd', 'blockhook.operators_cmd', 'blockhook.call_cmd', 'argon2')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_lazy_subcommand_resolves_to_its_command() -> None:
    ctx = click.Context(main)
    for name in LAZY_COMMANDS:
        command = main.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name
    assert set(LAZY_COMMANDS) <= set(main.list_commands(ctx))
    assert main.get_command(ctx, "no-such-command") is None
