"""HTTP/1.1 for the webhook client, pure: the bytes of a POST, and a response parser on
llhttp (through httptools) with the limits a client talking to anyone's server needs.

llhttp does the framing (Content-Length, chunked, or the end of the connection) and is
strict by default: bad versions, status lines, header names and values, lengths and chunk
sizes, and both Content-Length and Transfer-Encoding in one response (ambiguous: a request
smuggling vector) are errors. What llhttp leaves to its caller is done here: every error is
a ProtocolError, never an httptools exception; a head, or chunk framing, larger than
MAX_HEAD is refused (llhttp has no size limit and does not buffer, but httptools gathers a
header in memory until it ends); a body is read up to MAX_DRAIN bytes to keep the
connection, then it is closed instead; 1xx answers are skipped; only HTTP/1.0 and 1.1 are
taken; bytes past the response mean the connection is not reused.

Only what a webhook POST needs: one request at a time per connection, no pipelining, no
redirects, no compression (none is asked for). The parser keeps the first bytes of the body
as the response excerpt and reads the rest only to reuse the connection."""

from __future__ import annotations

import re

import httptools

from transport.target import Target

MAX_HEAD = 64 * 1024  # a response head larger than this is refused
MAX_DRAIN = 1024 * 1024  # body bytes read to keep a connection; past this it is closed
# Framing bytes a chunk may bring besides its data: a size line of up to 16 hex digits and
# two CRLFs. Chunk extensions and trailers come out of MAX_HEAD, which the head shares.
CHUNK_FRAMING = 24
_START = 64  # bytes kept from the stream's start to check it opens with "HTTP/"

# RFC 9110 token characters: a header name is one token.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Not in a header value: C0 controls but HTAB (CR and LF above all), DEL, C1 controls.
_NOT_IN_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


class ProtocolError(ValueError):
    """The server's answer is not HTTP/1.x as it must be."""


class InvalidHeader(ValueError):
    """A request header cannot be sent: its name is not a token, or its value holds a line
    break or another control character (which would split or forge headers)."""


_TOKENS_SEEN: set[str] = set()  # header names found to be tokens (the same few each time)


def _check_headers(headers: dict[str, str], agent: str) -> None:
    """InvalidHeader for the first header that must not be sent. The common case costs a
    set lookup per name and one isprintable() over all values (it is False for every
    control character, and for HTAB and some Latin-1, which the exact check then takes)."""
    for name in headers:
        if name not in _TOKENS_SEEN:
            if _TOKEN.fullmatch(name) is None:
                raise InvalidHeader(f"header name {name[:60]!r} is not an HTTP token")
            if len(_TOKENS_SEEN) < 1024:
                _TOKENS_SEEN.add(name)
    if (agent + "".join(headers.values())).isprintable():
        return
    for name, value in (("user-agent", agent), *headers.items()):
        if _NOT_IN_VALUE.search(value) is not None:
            raise InvalidHeader(f"header {name} holds a line break or control character")


def encode_post(target: Target, headers: dict[str, str], body: bytes, agent: str) -> bytes:
    """The bytes of a POST of body to target with the given headers; InvalidHeader, before
    anything is sent, if a header name is not a token or a value is not one line of text.
    (The request line and Host header come from parse_target, which refuses such URLs.)"""
    _check_headers(headers, agent)
    lines = [
        f"POST {target.path} HTTP/1.1",
        f"host: {target.host_header}",
        f"user-agent: {agent}",
        f"content-length: {len(body)}",
    ]
    if target.authorization is not None:
        lines.append(f"authorization: {target.authorization}")
    lines += [f"{k}: {v}" for k, v in headers.items()]
    try:
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidHeader("header values must be Latin-1 text") from None
    return head + body


class _Stop(Exception):
    """Raised in a callback to stop llhttp: the response is complete or read far enough."""


class ResponseParser:
    """One response, fed as it arrives. `done` once it is complete; `keep_alive` says
    whether the connection may carry the next request. The on_* methods are llhttp's
    callbacks, called from inside feed()."""

    __slots__ = (
        "_body",
        "_chunked",
        "_chunks",
        "_fed",
        "_head",
        "_in_head",
        "_interim",
        "_length",
        "_line_seen",
        "_llhttp",
        "_start",
        "done",
        "drain_limit",
        "excerpt",
        "excerpt_limit",
        "keep_alive",
        "status",
    )

    def __init__(self, excerpt_limit: int, drain_limit: int = MAX_DRAIN) -> None:
        self.excerpt_limit = excerpt_limit
        self.drain_limit = drain_limit
        self.status: int | None = None
        self.keep_alive = True
        self.done = False
        self.excerpt = bytearray()
        # dropped when done: it and this object refer to each other
        self._llhttp: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self._fed = 0  # bytes fed
        self._body = 0  # body bytes seen
        self._chunks = 0  # chunks begun
        self._head = 0  # the current head's size as far as the callbacks show (at most it)
        self._in_head = True  # the current message's head is not complete
        self._line_seen = False  # llhttp got past its status line (if it had a reason)
        self._interim = False  # the current message is a 1xx
        self._length = False  # the final response has a Content-Length
        self._chunked = False  # its Transfer-Encoding ends in chunked
        self._start: bytes | None = b""  # the stream's first bytes, until checked

    @property
    def started(self) -> bool:
        """Has any byte of the response arrived?"""
        return self._fed > 0

    def feed(self, data: bytes) -> None:
        """Take more bytes; ProtocolError if they cannot be an HTTP/1.x response."""
        if self.done:
            if data:  # bytes after the response, with no request asking for them
                self.keep_alive = False
            return
        if not data:
            return
        parser = self._llhttp
        assert parser is not None  # dropped only when done
        self._fed += len(data)
        if self._start is not None and len(self._start) < _START:
            self._start += data[: _START - len(self._start)]
        try:
            parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:  # raised in one of ours
            cause = exc.__context__
            if isinstance(cause, ProtocolError):
                self.keep_alive = False
                raise cause from None
            if not isinstance(cause, _Stop):
                raise self._error(exc) from None
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if not self.done:
                self.keep_alive = False
                raise self._error(exc) from None
            self.keep_alive = False  # llhttp refused bytes after the response
        if self.done:
            self._llhttp = None
            return
        # llhttp buffers nothing, but a header or trailer in the making is kept whole
        framing = self._fed - self._body - CHUNK_FRAMING * self._chunks
        if framing > MAX_HEAD + 4:  # +4: the CRLFCRLF that ends a head
            self.keep_alive = False
            what = "head" if self.status is None or self._in_head else "chunk framing"
            raise ProtocolError(f"response {what} larger than {MAX_HEAD} bytes")

    def eof(self) -> None:
        """The server closed the connection: ends a body framed by it; else ProtocolError."""
        self.keep_alive = False
        if self.done:
            return
        if self._in_head or self.status is None:
            raise ProtocolError("connection closed before a complete response head")
        if self._length or self._chunked:
            raise ProtocolError("connection closed in the middle of the response body")
        self.done = True  # framed by the end of the connection: this is its end
        self._llhttp = None

    def _error(self, exc: Exception) -> ProtocolError:
        """llhttp's refusal as a ProtocolError saying where in the response it was."""
        reason = str(exc) or type(exc).__name__
        if self._in_head and not self._line_seen:
            return ProtocolError(f"not an HTTP/1.x status line ({reason})")
        where = "head" if self._in_head else "body"
        return ProtocolError(f"malformed response {where} ({reason})")

    # --- llhttp's callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.done:  # a second response no request asked for
            self.keep_alive = False
            raise _Stop
        self._head = 12  # "HTTP/1.1 200", the status line without its reason
        self._in_head = True
        self._line_seen = False
        self._length = self._chunked = False

    def on_status(self, reason: bytes) -> None:
        self._head += len(reason)
        self._line_seen = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:  # a trailer: counted with the chunk framing
            return
        self._head += len(name) + len(value) + 3  # CRLF before, ":" between
        self._line_seen = True
        if self._head > MAX_HEAD:
            raise ProtocolError(f"response head larger than {MAX_HEAD} bytes")
        n = len(name)
        if n == 14 and name.lower() == b"content-length":
            self._length = True
        elif n == 17 and name.lower() == b"transfer-encoding":
            self._chunked = value.rpartition(b",")[2].strip().lower() == b"chunked"

    def on_headers_complete(self) -> None:
        parser = self._llhttp
        assert parser is not None
        self._in_head = False
        if self._head > MAX_HEAD:
            raise ProtocolError(f"response head larger than {MAX_HEAD} bytes")
        # llhttp also takes HTTP/0.9 and 2.0, RTSP/ and ICE/: the first head is checked on
        # the stream's first bytes (cheaper than asking llhttp), a later one (after a 1xx)
        # by llhttp's version
        start = self._start
        if start is not None:
            self._start = None
            protocol = start.lstrip(b"\r\n")[:8]
            if protocol != b"HTTP/1.1" and protocol != b"HTTP/1.0":
                raise ProtocolError(f"not an HTTP/1.x status line ({protocol!r})")
        elif parser.get_http_version() not in ("1.1", "1.0"):
            raise ProtocolError(f"not an HTTP/1.x status line (HTTP/{parser.get_http_version()})")
        status = parser.get_status_code()
        if status < 100:
            raise ProtocolError(f"not an HTTP/1.x status line (status {status:03d})")
        if status < 200:
            if status == 101:  # llhttp would stop at it; no upgrade was asked for
                raise ProtocolError("101 Switching Protocols, but no upgrade was asked for")
            self._interim = True  # 100 Continue, 103 Early Hints: the final one follows
            return
        self._interim = False
        self.status = status
        self.keep_alive = parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        self._body += len(data)
        room = self.excerpt_limit - len(self.excerpt)
        if room > 0:
            self.excerpt += data[:room]
        if self._body > self.drain_limit:  # not worth reading on: close instead
            self.keep_alive = False
            self.done = True
            raise _Stop

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_message_complete(self) -> None:
        if self._interim:
            return
        parser = self._llhttp
        assert parser is not None
        self.keep_alive = parser.should_keep_alive()
        self.done = True
