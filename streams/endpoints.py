"""Names for RPC endpoints that are safe to log and to put on a metric.

Node providers put the account's key in the URL (`https://mainnet.infura.io/v3/<key>`,
`https://user:pass@node`, `?apikey=`), so a URL never goes into a log line, an error or a
metric label: its endpoint name does, the scheme, host and port alone. Two URLs of one
chain on the same host get `#2`, `#3` appended in the order they are configured."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit


def endpoint(url: str) -> str:
    """`scheme://host[:port]` of a URL, without user, path, query or fragment."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "invalid-url"
    if not parts.scheme or not host:
        return "invalid-url"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")


def endpoint_names(urls: Sequence[str]) -> list[str]:
    """One distinct safe name per URL, in order."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for url in urls:
        base = endpoint(url)
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return names
