"""Webhook URLs taken apart, pure: where a request goes (scheme, host, port) and what its
request line and Host header say.

Kept apart from the HTTP framing (transport/http1.py) because it is the one place a user's
text becomes bytes on the wire: spaces and control characters are refused here, non-ASCII
paths are percent-encoded as UTF-8 and international host names sent in their ASCII form,
the way yarl (and so aiohttp) encodes them, so a URL reaches the host it did before."""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import idna

DEFAULT_PORTS = {"http": 80, "https": 443}
_PRINTABLE_ASCII = "".join(map(chr, range(0x21, 0x7F)))  # kept as is; the rest %-encoded


class InvalidURL(ValueError):
    """The webhook URL cannot be requested (scheme, host, port or characters)."""


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart: where to connect and what to send."""

    scheme: str
    host: str  # without brackets; lower case
    port: int
    path: str  # request target: path and query, as given
    host_header: str
    authorization: str | None  # Basic, from user:password@ in the URL

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def ip_literal(self) -> bool:
        try:
            ipaddress.ip_address(self.host.split("%", 1)[0])
        except ValueError:
            return False
        return True


def _clean(text: str, what: str) -> str:
    if any(c <= " " or c == "\x7f" for c in text):
        raise InvalidURL(f"the URL's {what} holds spaces or control characters")
    return text


def _ascii_host(host: str) -> str:
    """IDNA 2008 with UTS 46 mapping, falling back to IDNA 2003, as yarl (and so aiohttp)
    does, so a name reaches the same host it did before."""
    try:
        return str(idna.encode(host, uts46=True).decode("ascii"))
    except UnicodeError:
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidURL("the URL's host is not a valid name") from None


def parse_target(url: str) -> Target:
    """The Target of an http(s) URL; InvalidURL says what is wrong with it."""
    if any(c < " " or c == "\x7f" for c in url):  # urlsplit would silently drop some
        raise InvalidURL("the URL holds control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidURL(f"scheme {parts.scheme!r} is not http or https")
    host = (parts.hostname or "").lower()
    if not host:
        raise InvalidURL("the URL has no host")
    _clean(host, "host")
    if not host.isascii():  # an internationalized name: its ASCII (punycode) form
        host = _ascii_host(host)
    path = _clean(parts.path or "/", "path")
    if parts.query:
        path += "?" + _clean(parts.query, "query")
    path = quote(path, safe=_PRINTABLE_ASCII)  # non-ASCII as UTF-8 %-escapes
    if port == 0:
        raise InvalidURL("port 0 cannot be connected to")
    port = port or DEFAULT_PORTS[scheme]
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    auth = None
    if parts.username or parts.password:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode()).decode()
    return Target(scheme, host, port, path, host_header, auth)
