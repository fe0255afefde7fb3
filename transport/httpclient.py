"""Keep-alive HTTP/1.1 client for webhook POSTs, on asyncio protocols.

Why not aiohttp here: a signed POST through aiohttp's client cost 230-360 µs of CPU on the
benchmark machine, this one about a third of that, and the webhook path does nothing else
(docs/performance.md). It connects only to addresses the request-forgery policy allows: the
name is resolved once per connection, every address checked, and the socket opened to a
checked address (DNS rebinding gains nothing); TLS is verified against the URL's host name.
The checked addresses are raced with happy eyeballs (RFC 8305, aiohappyeyeballs): a next
address is tried 250 ms after the previous one, or as soon as it fails, so one that never
answers (an IPv6 route that drops everything) costs 250 ms, not a timeout.
One request at a time per connection; idle connections are kept per origin and reused."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from typing import cast

from aiohappyeyeballs import AddrInfoType, start_connection

from streams.netpolicy import address_refusal
from transport.http1 import ProtocolError, ResponseParser, encode_post
from transport.target import Target

IDLE_S = 15.0  # an idle connection older than this is closed rather than reused
DNS_TTL_S = 10.0  # a checked resolution is reused this long for new connections
HAPPY_EYEBALLS_DELAY_S = 0.25  # how long one address may take before the next is raced


class ForbiddenAddress(OSError):
    """The webhook host is, or resolves to, an address the policy forbids."""


class Resolver:
    """Names to addresses the policy allows; refuses a name if any of its addresses is
    forbidden (so no answer order can slip a private address through)."""

    def __init__(self, allow_loopback: bool, allow_private: bool, ttl_s: float = DNS_TTL_S):
        self.allow_loopback = allow_loopback
        self.allow_private = allow_private
        self.ttl_s = ttl_s
        self._cache: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def lookup(self, host: str, port: int) -> list[str]:
        """The system resolver's addresses for host (replaced in tests)."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return [str(info[4][0]) for info in infos]

    def refusal(self, ip: str) -> str | None:
        return address_refusal(ip, self.allow_loopback, self.allow_private)

    async def addresses(self, target: Target) -> list[str]:
        """Checked addresses to connect to, in the resolver's order; ForbiddenAddress if
        the host is, or resolves to, a forbidden one."""
        host = target.host
        if target.ip_literal:
            why = self.refusal(host)
            if why is not None:
                raise ForbiddenAddress(f"{host}: {why}")
            return [host]
        key = (host, target.port)
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
            return hit[1]
        found = await self.checked(host, target.port)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic(), found)
        return found

    async def checked(self, host: str, port: int = 0) -> list[str]:
        """What host resolves to now (no cache), every address checked: ForbiddenAddress if
        any is forbidden, OSError if there is none."""
        found = list(dict.fromkeys(await self.lookup(host, port)))
        if not found:
            raise OSError(f"{host} has no address")
        for ip in found:
            why = self.refusal(ip)
            if why is not None:
                raise ForbiddenAddress(f"{host} resolves to {ip}: {why}")
        return found


def addr_infos(ips: list[str], port: int) -> list[AddrInfoType]:
    """getaddrinfo-style entries for checked IP addresses, to connect to them and nothing
    else: AI_NUMERICHOST parses the text (an IPv6 scope too) and never asks a resolver."""
    return [
        info
        for ip in ips
        for info in socket.getaddrinfo(
            ip, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_NUMERICHOST
        )
    ]


class Connection(asyncio.Protocol):
    """One TCP (or TLS) connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser: ResponseParser | None = None
        self.lost = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None or parser.done:  # bytes no request asked for
            self.close()
            return
        try:
            parser.feed(data)
        except ProtocolError as exc:
            self._wake(exc)
            return
        if parser.done:
            self._wake(None)

    def eof_received(self) -> bool | None:
        parser = self.parser
        if parser is not None and not parser.done:
            try:
                parser.eof()
            except ProtocolError as exc:
                self._wake(exc)
                return None
            self._wake(None)
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.parser is not None and not self.parser.done:
            self._wake(exc or ConnectionResetError("the server closed the connection"))

    def _wake(self, exc: BaseException | None) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    @property
    def reusable(self) -> bool:
        return (
            not self.lost
            and self.transport is not None
            and not self.transport.is_closing()
            and (self.parser is None or (self.parser.done and self.parser.keep_alive))
        )

    async def exchange(self, data: bytes, excerpt_limit: int) -> ResponseParser:
        """Send one request; the parsed response once it is complete."""
        assert self.transport is not None
        self.parser = parser = ResponseParser(excerpt_limit)
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            self.transport.write(data)
            await self._waiter
        finally:
            self._waiter = None
        return parser

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.abort()


class Http1Client:
    """POSTs over pooled keep-alive connections. Concurrency is bounded by the caller (the
    deliverer's overall and per-endpoint bounds), so the pool itself only caps what it
    keeps idle."""

    def __init__(
        self,
        resolver: Resolver,
        excerpt_limit: int,
        agent: str,
        max_idle_per_origin: int = 256,
        idle_s: float = IDLE_S,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.resolver = resolver
        self.excerpt_limit = excerpt_limit
        self.agent = agent
        self.max_idle = max_idle_per_origin
        self.idle_s = idle_s
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._swept = time.monotonic()
        self._closed = False

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def post(self, target: Target, headers: dict[str, str], body: bytes) -> ResponseParser:
        """POST body; the complete response (status and excerpt). A reused connection the
        server had closed meanwhile is replaced once; other failures raise (OSError,
        ProtocolError, or the caller's timeout)."""
        data = encode_post(target, headers, body, self.agent)
        for retry_left in (True, False):
            if retry_left:
                conn, reused = await self._acquire(target)
            else:  # the retry: a new connection (other idle ones may be as stale)
                conn, reused = await self._connect(target), False
            finished = False
            try:
                parser = await conn.exchange(data, self.excerpt_limit)
                finished = True
            except (OSError, ProtocolError):
                stale = reused and conn.parser is not None and not conn.parser.started
                if stale and retry_left:
                    continue
                raise
            finally:
                if not finished:
                    conn.close()
            self._release(target, conn)
            return parser
        raise AssertionError("unreachable")

    async def _acquire(self, target: Target) -> tuple[Connection, bool]:
        pool = self._idle.get(target.origin)
        now = time.monotonic()
        while pool:
            conn = pool.pop()
            if conn.reusable and now - conn.idle_since < self.idle_s:
                return conn, True
            conn.close()
        return await self._connect(target), False

    async def _connect(self, target: Target) -> Connection:
        """A new connection to one of the target's checked addresses, the first to answer
        (bounded by the caller's timeout alone)."""
        loop = asyncio.get_running_loop()
        tls = self.ssl_context() if target.tls else None
        infos = addr_infos(await self.resolver.addresses(target), target.port)
        sock = await start_connection(infos, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY_S)
        try:
            _, conn = await loop.create_connection(
                Connection,
                sock=sock,
                ssl=tls,
                server_hostname=target.host if tls is not None else None,
            )
        except BaseException:  # TLS refused, or the caller's timeout: the socket with it
            sock.close()
            raise
        return conn

    def _release(self, target: Target, conn: Connection) -> None:
        now = time.monotonic()
        if now - self._swept > self.idle_s:
            self._sweep(now)
        pool = self._idle.setdefault(target.origin, [])
        if conn.reusable and len(pool) < self.max_idle and not self._closed:
            conn.parser = None
            conn.idle_since = now
            pool.append(conn)
        else:
            conn.close()

    def _sweep(self, now: float) -> None:
        """Close connections idle too long (their origins may never be used again)."""
        self._swept = now
        for origin, pool in list(self._idle.items()):
            keep: list[Connection] = []
            for c in pool:
                if c.reusable and now - c.idle_since < self.idle_s:
                    keep.append(c)
                else:
                    c.close()
            if keep:
                self._idle[origin] = keep
            else:
                del self._idle[origin]

    async def close(self) -> None:
        """Close every idle connection, and each busy one when its request ends."""
        self._closed = True
        for pool in self._idle.values():
            for conn in pool:
                conn.close()
        self._idle.clear()
