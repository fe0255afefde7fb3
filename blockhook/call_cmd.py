"""`blockhook call METHOD PATH [BODY]`: one signed request to the API, for people at a shell.

It signs with a key file as `blockhook dev` writes it (`{"key_id", "secret", "url"}`), so a
secret never goes on the command line, and prints the answer's JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from transport.apiclient import ApiClient

DEFAULT_KEY_FILE = ".blockhook/dev/admin-key.json"


@click.command()
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False),
    envvar="BLOCKHOOK_KEY_FILE",
    default=DEFAULT_KEY_FILE,
    show_default=True,
    help="JSON {key_id, secret, url}; or BLOCKHOOK_KEY_FILE",
)
@click.option("--idempotency-key", default=None, help="sent as the idempotency-key header")
@click.argument("method", type=click.Choice(["GET", "POST", "PATCH", "DELETE"], False))
@click.argument("path")
@click.argument("body", required=False)
def call(
    key_file: str, idempotency_key: str | None, method: str, path: str, body: str | None
) -> None:
    """Send one signed request (BODY is JSON, or `-` for standard input); prints the answer.

    Exit status 0 for a 2xx answer, 1 otherwise."""
    if not path.startswith("/"):
        raise click.BadParameter("a path like /v1/monitors", param_hint="PATH")
    raw = b""
    if body is not None:
        text = sys.stdin.read() if body == "-" else body
        try:
            json.loads(text)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="BODY") from None
        raw = text.encode()
    try:
        client = ApiClient.from_file(Path(key_file))
    except (OSError, ValueError, KeyError) as exc:
        raise click.ClickException(f"{key_file}: not a key file ({exc})") from None
    headers = {"idempotency-key": idempotency_key} if idempotency_key else None
    try:
        status, data, _ = client.call_full(method.upper(), path, raw=raw, headers=headers)
    except OSError as exc:
        raise click.ClickException(f"{client.url}: {exc}") from None
    click.echo(json.dumps(data, indent=2) if data is not None else f"{status}")
    sys.exit(0 if 200 <= status < 300 else 1)
