"""HTTP/1.1 for the webhook client, pure: where a request goes, its bytes, and an incremental
response parser (framing by Content-Length, chunked, or the end of the connection).

Only what a webhook POST needs: one request at a time per connection, no pipelining, no
redirects, no compression (none is asked for). The parser keeps the first bytes of the body
as the response excerpt and reads the rest only to reuse the connection."""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import idna

MAX_HEAD = 64 * 1024  # a response head larger than this is refused
MAX_DRAIN = 1024 * 1024  # body bytes read to keep a connection; past this it is closed
DEFAULT_PORTS = {"http": 80, "https": 443}
_PRINTABLE_ASCII = "".join(map(chr, range(0x21, 0x7F)))  # kept as is; the rest %-encoded


class ProtocolError(ValueError):
    """The server's answer is not HTTP/1.x as it must be."""


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


def encode_post(target: Target, headers: dict[str, str], body: bytes, agent: str) -> bytes:
    """The bytes of a POST of body to target with the given headers (values are ours:
    signing and content type, never user text, so they hold no line breaks)."""
    lines = [
        f"POST {target.path} HTTP/1.1",
        f"host: {target.host_header}",
        f"user-agent: {agent}",
        f"content-length: {len(body)}",
    ]
    if target.authorization is not None:
        lines.append(f"authorization: {target.authorization}")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class ResponseParser:
    """One response, fed as it arrives. `done` once it is complete; `keep_alive` says
    whether the connection may carry the next request."""

    def __init__(self, excerpt_limit: int, drain_limit: int = MAX_DRAIN) -> None:
        self.excerpt_limit = excerpt_limit
        self.drain_limit = drain_limit
        self.status: int | None = None
        self.keep_alive = True
        self.done = False
        self.excerpt = bytearray()
        self._buf = bytearray()
        self._mode = "head"  # head | length | chunk-size | chunk-data | chunk-crlf | trailer | eof
        self._left = 0  # bytes left in the body (length) or in the chunk (chunk-data)
        self._read = 0  # body bytes seen
        self._started = False  # any byte fed (an interim 1xx leaves no other trace)

    @property
    def started(self) -> bool:
        """Has any byte of the response arrived?"""
        return self._started

    def feed(self, data: bytes) -> None:
        """Take more bytes; ProtocolError if they cannot be an HTTP/1.x response."""
        if self.done:
            if data:  # bytes after the response, with no request asking for them
                self.keep_alive = False
            return
        if data:
            self._started = True
        self._buf += data
        while not self.done and self._step():
            pass
        if self.done and self._buf:  # more than the response said it holds
            self.keep_alive = False

    def eof(self) -> None:
        """The server closed the connection: ends a body framed by it; else ProtocolError."""
        self.keep_alive = False
        if self.done:
            return
        if self._mode == "eof":
            self.done = True
            return
        if self.status is None:
            raise ProtocolError("connection closed before a complete response head")
        raise ProtocolError("connection closed in the middle of the response body")

    def _step(self) -> bool:
        """Parse what the buffer allows; True if it made progress and may make more."""
        mode = self._mode
        if mode == "head":
            return self._head()
        if mode in ("length", "chunk-data", "eof"):
            if not self._buf:
                return False
            take = len(self._buf) if mode == "eof" else min(self._left, len(self._buf))
            self._body(bytes(self._buf[:take]))
            del self._buf[:take]
            self._left -= take
            if mode == "length" and self._left == 0:
                self.done = True
            elif mode == "chunk-data" and self._left == 0:
                self._mode = "chunk-crlf"
            return True
        line = self._line()
        if line is None:
            return False
        if mode == "chunk-crlf":
            if line:
                raise ProtocolError("chunk not followed by CRLF")
            self._mode = "chunk-size"
        elif mode == "chunk-size":
            size_text = line.split(b";", 1)[0].strip()
            # int() alone would take "0x1a", "1_0", "+a" and other non-HTTP spellings
            if not 0 < len(size_text) <= 16 or size_text.strip(b"0123456789abcdefABCDEF"):
                raise ProtocolError(f"bad chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                self._mode = "trailer"
            else:
                self._mode, self._left = "chunk-data", size
        elif mode == "trailer" and not line:
            self.done = True
        return True

    def _line(self) -> bytes | None:
        i = self._buf.find(b"\r\n")
        if i > MAX_HEAD or (i < 0 and len(self._buf) > MAX_HEAD + 1):
            raise ProtocolError("line too long in the response")
        if i < 0:
            return None
        line = bytes(self._buf[:i])
        del self._buf[: i + 2]
        return line

    def _body(self, data: bytes) -> None:
        room = self.excerpt_limit - len(self.excerpt)
        if room > 0:
            self.excerpt += data[:room]
        self._read += len(data)
        if self._read > self.drain_limit:  # not worth reading on: close instead
            self.keep_alive = False
            self.done = True

    def _head(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        # too large whether it came whole or in pieces (the CRLFCRLF may still be arriving)
        if end > MAX_HEAD or (end < 0 and len(self._buf) > MAX_HEAD + 3):
            raise ProtocolError(f"response head larger than {MAX_HEAD} bytes")
        if end < 0:
            return False
        head = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + 4]
        status_line, *header_lines = head.split("\r\n")
        version, _, rest = status_line.partition(" ")
        code, after = rest[:3], rest[3:4]
        if (
            not version.startswith("HTTP/1.")
            or len(code) != 3
            or not (code.isascii() and code.isdigit())  # "²00".isdigit() too, int() not
            or after not in ("", " ")
        ):
            raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:60]!r}")
        status = int(code)
        headers: dict[str, list[str]] = {}
        for h in header_lines:
            name, sep, value = h.partition(":")
            if not sep or not name or name != name.strip():
                raise ProtocolError(f"malformed header line {h[:60]!r}")
            headers.setdefault(name.lower(), []).append(value.strip())
        if 100 <= status < 200:  # interim (100 Continue, 103 Early Hints): the next head
            return True
        self.status = status
        tokens = {t.strip().lower() for v in headers.get("connection", []) for t in v.split(",")}
        if "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens):
            self.keep_alive = False
        coding = [
            t.strip().lower() for v in headers.get("transfer-encoding", []) for t in v.split(",")
        ]
        lengths = set(headers.get("content-length", []))
        if status in (204, 304):
            self.done = True
        elif coding:
            if lengths:  # both: the coding frames it, and the connection is not trusted after
                self.keep_alive = False
            if coding[-1] != "chunked":
                self._mode, self.keep_alive = "eof", False
            else:
                self._mode = "chunk-size"
        elif lengths:
            value = next(iter(lengths))
            if len(lengths) != 1 or not (value.isascii() and value.isdigit()):
                raise ProtocolError(f"bad content-length {sorted(lengths)!r}")
            self._left = int(value)
            self._mode = "length"
            if self._left == 0:
                self.done = True
        else:
            self._mode, self.keep_alive = "eof", False
        return True
