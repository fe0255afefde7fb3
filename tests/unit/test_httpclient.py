"""httpclient: the keep-alive webhook client against real servers on 127.0.0.1 (raw asyncio
servers, so every byte of the answers is ours): pooling, framing, stale connections,
timeouts, no redirects, refused headers, the address policy, happy eyeballs over the checked
addresses, and TLS verification."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohappyeyeballs
import pytest
from standardwebhooks import Webhook

from streams.signing import webhook_headers
from transport import httpclient
from transport.http1 import MAX_HEAD, InvalidHeader, ProtocolError
from transport.httpclient import ForbiddenAddress, Http1Client, Resolver, addr_infos
from transport.target import parse_target
from transport.webhooks import WebhookSender

TLS_DIR = Path(__file__).parent / "tls"
CERT = TLS_DIR / "cert.pem"
KEY = TLS_DIR / "key.pem"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

Handler = Callable[["Conn"], Awaitable[None]]


class Conn:
    """One accepted connection, for a handler: read whole requests, write raw bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.requests: list[bytes] = []
        self.ended = False  # the handler finished (the client closed, or it gave up)

    async def request(self) -> bytes | None:
        """The next complete request (head and Content-Length body), None at EOF."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        self.requests.append(head + body)
        return head + body

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


class Server:
    """A raw HTTP server on 127.0.0.1 running handler on each connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.conns: list[Conn] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> Server:
        self._server = await asyncio.start_server(
            self._on_connection, "127.0.0.1", 0, ssl=ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _on_connection(self, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        conn = Conn(reader, w)
        self.conns.append(conn)
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        try:
            await self.handler(conn)
        except (OSError, asyncio.IncompleteReadError):
            pass  # the client went away: that is for the test to check
        except asyncio.CancelledError:
            pass  # stopped at the end of the test (a hanging handler)
        finally:
            conn.ended = True
            w.close()

    @property
    def connections(self) -> int:
        return len(self.conns)

    @property
    def requests(self) -> list[bytes]:
        return [r for c in self.conns for r in c.requests]

    def url(self, path: str = "/hook", host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for c in self.conns:
            c.writer.transport.abort()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


Serve = Callable[..., Awaitable[Server]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """serve(handler, ssl_context=None): a started Server, stopped after the test."""
    servers: list[Server] = []

    async def start(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> Server:
        server = await Server(handler).start(ssl_context)
        servers.append(server)
        return server

    yield start
    for s in servers:
        await s.stop()


@pytest.fixture
async def client() -> AsyncIterator[Http1Client]:
    c = Http1Client(Resolver(allow_loopback=True, allow_private=False), 512, "blockhook-test/1")
    yield c
    await c.close()


def answer_each(*responses: bytes) -> Handler:
    """A keep-alive handler answering the n-th request on a connection with responses[n]
    (the last one again when they run out)."""

    async def handler(conn: Conn) -> None:
        n = 0
        while await conn.request() is not None:
            await conn.send(responses[min(n, len(responses) - 1)])
            n += 1

    return handler


async def post(client: Http1Client, url: str, body: bytes = b"{}") -> tuple[int | None, bytes]:
    async with asyncio.timeout(3):
        resp = await client.post(parse_target(url), {"content-type": "application/json"}, body)
    assert resp.done
    return resp.status, bytes(resp.excerpt)


# --- the request ---------------------------------------------------------------------------


async def test_request_bytes_on_the_wire(serve: Serve, client: Http1Client) -> None:
    server = await serve(answer_each(OK))
    body = b'{"type":"transfer","amount":"1000"}'
    headers = webhook_headers([SECRET], "msg_123", 1_700_000_000, body)
    async with asyncio.timeout(3):
        resp = await client.post(parse_target(server.url("/hook?x=1")), headers, body)
    assert (resp.status, bytes(resp.excerpt)) == (200, b"ok")
    [request] = server.requests
    head, _, got_body = request.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "POST /hook?x=1 HTTP/1.1"
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert len(fields) == len(lines) - 1  # no header twice
    assert fields["host"] == f"127.0.0.1:{server.port}"
    assert fields["content-length"] == str(len(body))
    assert fields["user-agent"] == "blockhook-test/1"
    for name, value in headers.items():
        assert fields[name] == value
    assert fields["webhook-signature"].startswith("v1,")
    assert got_body == body


async def test_sender_sends_a_verifiable_standard_webhook(serve: Serve) -> None:
    server = await serve(answer_each(b"HTTP/1.1 204 No Content\r\n\r\n"))
    sender = WebhookSender(timeout_s=2, allow_loopback=True, allow_private=False)
    try:
        body = b'{"id":"evt_1"}'
        a = await sender.send(server.url("/h"), [SECRET], "evt_1", body)
    finally:
        await sender.close()
    assert a.ok and a.status_code == 204 and a.error is None and a.response == ""
    [request] = server.requests
    head, _, got = request.partition(b"\r\n\r\n")
    fields = {
        k.lower(): v.strip()
        for k, _, v in (ln.partition(":") for ln in head.decode().split("\r\n")[1:])
    }
    assert got == body
    assert fields["user-agent"].startswith("blockhook/")
    Webhook(SECRET).verify(body, fields)  # raises if the signature does not hold


@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-id": "msg_1\r\nx-injected: 1"},
        {"webhook-id": "msg_1\n"},
        {"x-a\r\nx-injected": "1"},
        {"x-a": "nul\x00"},
    ],
)
async def test_line_breaks_in_headers_are_refused_before_connecting(
    serve: Serve, client: Http1Client, headers: dict[str, str]
) -> None:
    server = await serve(answer_each(OK))
    with pytest.raises(InvalidHeader):
        await client.post(parse_target(server.url()), headers, b"{}")
    await asyncio.sleep(0.02)
    assert server.connections == 0  # not a byte sent, not even a connection


async def test_sender_reports_a_refused_header_as_a_failed_attempt(serve: Serve) -> None:
    server = await serve(answer_each(OK))
    sender = WebhookSender(timeout_s=2, allow_loopback=True, allow_private=False)
    try:
        a = await sender.send(server.url(), [SECRET], "evt_1\r\nx-injected: 1", b"{}")
    finally:
        await sender.close()
    assert not a.ok and a.status_code is None
    assert a.error == "InvalidHeader: header webhook-id holds a line break or control character"
    assert server.connections == 0


# --- keep-alive and framing ------------------------------------------------------------


async def test_keep_alive_reuses_one_connection(serve: Serve, client: Http1Client) -> None:
    server = await serve(answer_each(OK))
    for i in range(4):
        assert await post(client, server.url(), f'{{"n":{i}}}'.encode()) == (200, b"ok")
    assert server.connections == 1
    assert [r.partition(b"\r\n\r\n")[2] for r in server.requests] == [
        f'{{"n":{i}}}'.encode() for i in range(4)
    ]


async def test_connection_close_answer_means_a_new_connection(
    serve: Serve, client: Http1Client
) -> None:
    # the server says close but leaves its side open: the client must not reuse it anyway
    server = await serve(
        answer_each(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n!")
    )
    for _ in range(3):
        assert await post(client, server.url()) == (200, b"!")
    assert server.connections == 3
    assert [len(c.requests) for c in server.conns] == [1, 1, 1]


async def test_http10_answer_means_a_new_connection(serve: Serve, client: Http1Client) -> None:
    server = await serve(answer_each(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    assert await post(client, server.url()) == (200, b"ok")
    assert await post(client, server.url()) == (200, b"ok")
    assert server.connections == 2


async def test_chunked_response_and_reuse(serve: Serve, client: Http1Client) -> None:
    chunked = (
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"6;ext=1\r\nchunk-\r\n5\r\nbody!\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )

    async def handler(conn: Conn) -> None:
        while await conn.request() is not None:
            for i in range(0, len(chunked), 9):  # in small writes, as a slow server would
                await conn.send(chunked[i : i + 9])
                await asyncio.sleep(0)

    server = await serve(handler)
    assert await post(client, server.url()) == (202, b"chunk-body!")
    assert await post(client, server.url()) == (202, b"chunk-body!")
    assert server.connections == 1


async def test_close_delimited_response(serve: Serve, client: Http1Client) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n")
        await asyncio.sleep(0.02)
        await conn.send(b"the body ends ")
        await conn.send(b"when the connection does")
        conn.close()

    server = await serve(handler)
    status, excerpt = await post(client, server.url())
    assert (status, excerpt) == (500, b"the body ends when the connection does")
    assert (await post(client, server.url()))[0] == 500
    assert server.connections == 2


async def test_interim_response_then_final(serve: Serve, client: Http1Client) -> None:
    server = await serve(
        answer_each(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nc"
        )
    )
    assert await post(client, server.url()) == (201, b"c")
    assert await post(client, server.url()) == (201, b"c")
    assert server.connections == 1


async def test_bytes_beyond_the_response_close_the_connection(
    serve: Serve, client: Http1Client
) -> None:
    server = await serve(answer_each(OK + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    assert await post(client, server.url()) == (200, b"ok")
    assert await post(client, server.url()) == (200, b"ok")
    assert server.connections == 2


async def test_large_response_body_gives_the_first_512_bytes(serve: Serve) -> None:
    body = bytes(ord("a") + i % 26 for i in range(20_000))
    server = await serve(answer_each(b"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n" + body))
    sender = WebhookSender(timeout_s=2, allow_loopback=True, allow_private=False)
    try:
        a = await sender.send(server.url(), [SECRET], "m1", b"{}")
        b = await sender.send(server.url(), [SECRET], "m2", b"{}")
    finally:
        await sender.close()
    assert a.ok and a.status_code == 200
    assert a.response == body[:512].decode()
    assert b.response == a.response
    assert server.connections == 1  # the rest was read, so the connection was kept


async def test_body_past_the_drain_limit_closes_the_connection(
    serve: Serve, client: Http1Client
) -> None:
    size = 2 * 1024 * 1024
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode()
    server = await serve(answer_each(head + b"z" * size))
    assert await post(client, server.url()) == (200, b"z" * 512)
    assert await post(client, server.url()) == (200, b"z" * 512)
    assert server.connections == 2


async def test_content_length_with_chunked_is_refused_and_the_connection_closed(
    serve: Serve, client: Http1Client
) -> None:
    ambiguous = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\n"
    )
    first, later = answer_each(ambiguous), answer_each(OK)

    async def handler(conn: Conn) -> None:
        await (first if server.conns[0] is conn else later)(conn)

    server = await serve(handler)
    with pytest.raises(ProtocolError, match="can't be present with"):
        await post(client, server.url())
    assert not client._idle.get(parse_target(server.url()).origin)
    await asyncio.sleep(0.05)
    assert server.conns[0].ended  # closed by the client: what follows cannot be trusted
    assert await post(client, server.url()) == (200, b"ok")
    assert server.connections == 2


async def test_endless_response_head_is_refused_not_buffered(
    serve: Serve, client: Http1Client
) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        while True:  # one header without end: refused, the client closes
            await conn.send(b"a" * (MAX_HEAD // 4))

    server = await serve(handler)
    with pytest.raises(ProtocolError, match="head larger than"):
        await post(client, server.url())
    await asyncio.sleep(0.05)
    assert server.conns[0].ended  # the server's next send failed: the client had closed


# --- connections that die ------------------------------------------------------------------


async def test_idle_connection_closed_by_the_server_is_replaced(
    serve: Serve, client: Http1Client
) -> None:
    closed = asyncio.Event()

    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(OK)  # keep-alive, then an idle timeout of the server's
        await asyncio.sleep(0.05)
        conn.close()
        closed.set()

    server = await serve(handler)
    assert await post(client, server.url()) == (200, b"ok")
    await asyncio.wait_for(closed.wait(), 2)
    await asyncio.sleep(0.02)
    assert await post(client, server.url()) == (200, b"ok")
    assert server.connections == 2
    assert [len(c.requests) for c in server.conns] == [1, 1]


async def test_stale_pooled_connection_is_retried_once_on_a_new_one(
    serve: Serve, client: Http1Client
) -> None:
    server = await serve(answer_each(OK))
    assert await post(client, server.url()) == (200, b"ok")
    [pooled] = client._idle[parse_target(server.url()).origin]
    # the server drops the connection just as the client sends on it (the client has not
    # seen the close yet: it still takes the connection for reusable)
    server.conns[0].writer.transport.abort()
    assert pooled.reusable
    assert await post(client, server.url()) == (200, b"ok")
    assert server.connections == 2
    assert len(server.conns[1].requests) == 1


async def test_the_retry_does_not_take_another_stale_pooled_connection(
    serve: Serve, client: Http1Client
) -> None:
    both = asyncio.Barrier(2)

    async def handler(conn: Conn) -> None:
        first_two = len(server.conns) <= 2
        while await conn.request() is not None:
            if first_two and len(conn.requests) == 1:
                await both.wait()  # two connections at once, so two are pooled
            elif first_two:
                # dead the way a dropped NAT or balancer entry is: the client cannot tell
                # before it sends; then the request is taken and the connection closed
                conn.close()
                return
            await conn.send(OK)

    server = await serve(handler)
    async with asyncio.timeout(3):
        results = await asyncio.gather(post(client, server.url()), post(client, server.url()))
    assert list(results) == [(200, b"ok")] * 2
    assert len(client._idle[parse_target(server.url()).origin]) == 2
    # one stale connection, then the retry on a new one (not on the other stale one)
    assert await post(client, server.url()) == (200, b"ok")
    assert server.connections == 3
    assert sorted(len(c.requests) for c in server.conns[:2]) == [1, 2]
    assert len(server.conns[2].requests) == 1


async def test_server_closing_without_answering_fails_fast(
    serve: Serve, client: Http1Client
) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        conn.close()

    server = await serve(handler)
    t0 = time.monotonic()
    with pytest.raises((OSError, ProtocolError)):
        await post(client, server.url())
    assert time.monotonic() - t0 < 1
    assert server.connections == 1  # a new connection dying is not retried
    assert len(server.requests) == 1


async def test_reused_connection_closing_without_answering_is_retried_only_once(
    serve: Serve, client: Http1Client
) -> None:
    answered = 0

    async def handler(conn: Conn) -> None:
        nonlocal answered
        while await conn.request() is not None:
            if answered:
                conn.close()  # from now on: read the request, close without a word
                return
            answered += 1
            await conn.send(OK)

    server = await serve(handler)
    assert await post(client, server.url()) == (200, b"ok")
    with pytest.raises((OSError, ProtocolError)):
        await post(client, server.url())
    assert server.connections == 2  # the reused one, then one retry on a new connection
    assert len(server.requests) == 3
    with pytest.raises((OSError, ProtocolError)):  # a new connection again: no retry
        await post(client, server.url())
    assert server.connections == 3


async def test_death_after_an_interim_response_is_not_retried(
    serve: Serve, client: Http1Client
) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(OK)
        await conn.request()
        await conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")  # the request was seen
        await asyncio.sleep(0.02)
        conn.close()

    server = await serve(handler)
    assert await post(client, server.url()) == (200, b"ok")
    with pytest.raises(ProtocolError, match="before a complete response head"):
        await post(client, server.url())
    assert server.connections == 1  # not sent twice


async def test_reset_after_part_of_the_response_is_not_retried(
    serve: Serve, client: Http1Client
) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(OK)
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart")
        await asyncio.sleep(0.02)
        conn.close()

    server = await serve(handler)
    assert await post(client, server.url()) == (200, b"ok")
    with pytest.raises(ProtocolError, match="middle of the response body"):
        await post(client, server.url())
    assert server.connections == 1  # a response had begun: the request is not sent again


async def test_malformed_header_in_the_answer_is_a_failed_attempt(serve: Serve) -> None:
    server = await serve(
        answer_each(b"HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 0\r\n\r\n")
    )
    sender = WebhookSender(timeout_s=2, allow_loopback=True, allow_private=False)
    try:
        a = await sender.send(server.url(), [SECRET], "m", b"{}")
    finally:
        await sender.close()
    assert not a.ok and a.status_code is None
    assert a.error == "ProtocolError: malformed response head (Invalid header token)"


async def test_garbage_answer_is_a_protocol_error(serve: Serve) -> None:
    server = await serve(answer_each(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"))
    sender = WebhookSender(timeout_s=2, allow_loopback=True, allow_private=False)
    try:
        a = await sender.send(server.url(), [SECRET], "m", b"{}")
    finally:
        await sender.close()
    assert not a.ok and a.status_code is None
    assert str(a.error).startswith("ProtocolError: not an HTTP/1.x status line")


async def test_hanging_server_times_out(serve: Serve) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nslow")
        await asyncio.sleep(30)

    server = await serve(handler)
    sender = WebhookSender(timeout_s=10, allow_loopback=True, allow_private=False)
    try:
        t0 = time.monotonic()
        a = await sender.send(server.url(), [SECRET], "m", b"{}", timeout_s=0.5)
        elapsed = time.monotonic() - t0
    finally:
        await sender.close()
    assert a.error == "timeout after 0.5s"
    assert a.status_code is None and not a.ok
    assert 0.45 < elapsed < 1.5
    assert 450 <= a.latency_ms < 1500
    assert server.connections == 1


async def test_connection_refused_is_an_error_not_a_raise() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    sender = WebhookSender(timeout_s=2, allow_loopback=True, allow_private=False)
    try:
        a = await sender.send(f"http://127.0.0.1:{port}/", [SECRET], "m", b"{}")
    finally:
        await sender.close()
    assert a.status_code is None and str(a.error).startswith("ConnectionRefusedError")


async def test_redirect_is_not_followed(serve: Serve) -> None:
    elsewhere = await serve(answer_each(OK))
    server = await serve(
        answer_each(
            b"HTTP/1.1 302 Found\r\nLocation: "
            + elsewhere.url("/stolen").encode()
            + b"\r\nContent-Length: 5\r\n\r\nmoved"
        )
    )
    sender = WebhookSender(timeout_s=2, allow_loopback=True, allow_private=False)
    try:
        a = await sender.send(server.url(), [SECRET], "m", b"{}")
    finally:
        await sender.close()
    assert a.status_code == 302 and a.error == "HTTP 302" and not a.ok
    assert a.response == "moved"
    await asyncio.sleep(0.05)
    assert server.connections == 1
    assert elsewhere.connections == 0


async def test_invalid_url_is_an_error(serve: Serve) -> None:
    sender = WebhookSender(timeout_s=2, allow_loopback=True, allow_private=False)
    try:
        a = await sender.send("ftp://127.0.0.1/x", [SECRET], "m", b"{}")
    finally:
        await sender.close()
    assert a.status_code is None and str(a.error).startswith("InvalidURL:")


# --- pool ----------------------------------------------------------------------------------


async def test_idle_connections_expire(serve: Serve) -> None:
    server = await serve(answer_each(OK))
    c = Http1Client(Resolver(True, False), 512, "t", idle_s=0.05)
    try:
        assert await post(c, server.url()) == (200, b"ok")
        assert await post(c, server.url()) == (200, b"ok")
        assert server.connections == 1
        await asyncio.sleep(0.1)
        assert await post(c, server.url()) == (200, b"ok")
        assert server.connections == 2
    finally:
        await c.close()


async def test_pool_keeps_at_most_max_idle(serve: Serve) -> None:
    all_in = asyncio.Barrier(3)

    async def handler(conn: Conn) -> None:
        while await conn.request() is not None:
            if len(conn.requests) == 1:
                await all_in.wait()
            await conn.send(OK)

    server = await serve(handler)
    c = Http1Client(Resolver(True, False), 512, "t", max_idle_per_origin=1)
    try:
        async with asyncio.timeout(3):
            await asyncio.gather(*(post(c, server.url()) for _ in range(3)))
        assert len(c._idle[parse_target(server.url()).origin]) == 1
        await asyncio.sleep(0.05)
        ended = [conn.ended for conn in server.conns]
        assert sorted(ended) == [False, True, True]  # two were closed, one kept
    finally:
        await c.close()


async def test_close_closes_idle_connections(serve: Serve) -> None:
    server = await serve(answer_each(OK))
    c = Http1Client(Resolver(True, False), 512, "t")
    assert await post(c, server.url()) == (200, b"ok")
    await c.close()
    await asyncio.sleep(0.05)
    assert server.conns[0].ended
    assert not c._idle


# --- the address policy ---------------------------------------------------------------------


class MapResolver(Resolver):
    """Resolves every name to the given addresses, recording what it was asked."""

    def __init__(self, *ips: str, allow_loopback: bool = True, allow_private: bool = False):
        super().__init__(allow_loopback, allow_private)
        self.ips = list(ips)
        self.asked: list[tuple[str, int]] = []

    async def lookup(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return self.ips


async def test_forbidden_ip_literal_is_refused_without_connecting(serve: Serve) -> None:
    server = await serve(answer_each(OK))
    sender = WebhookSender(timeout_s=2, allow_loopback=False, allow_private=False)
    try:
        a = await sender.send(server.url(), [SECRET], "m", b"{}")
    finally:
        await sender.close()
    assert a.error == "refused: 127.0.0.1: loopback address" and a.status_code is None
    c = Http1Client(Resolver(allow_loopback=False, allow_private=False), 512, "t")
    with pytest.raises(ForbiddenAddress):
        await c.post(parse_target(server.url()), {}, b"")
    await asyncio.sleep(0.05)
    assert server.connections == 0


async def test_name_resolving_to_a_private_address_is_refused() -> None:
    resolver = MapResolver("10.0.0.5", allow_loopback=True, allow_private=False)
    sender = WebhookSender(timeout_s=2, allow_loopback=True, allow_private=False, resolver=resolver)
    try:
        a = await sender.send("https://innocent.example/hook", [SECRET], "m", b"{}")
    finally:
        await sender.close()
    assert a.status_code is None
    assert str(a.error).startswith("refused: innocent.example resolves to 10.0.0.5")
    assert resolver.asked == [("innocent.example", 443)]
    mixed = MapResolver("93.184.216.34", "192.168.1.9", allow_loopback=True)
    with pytest.raises(ForbiddenAddress, match=r"192\.168\.1\.9"):
        await mixed.addresses(parse_target("http://innocent.example/"))


async def test_name_resolving_to_an_allowed_address_connects_there(serve: Serve) -> None:
    server = await serve(answer_each(OK))
    resolver = MapResolver("127.0.0.1")
    c = Http1Client(resolver, 512, "t")
    try:
        assert await post(c, server.url(host="hooks.example")) == (200, b"ok")
        assert await post(c, server.url(host="hooks.example")) == (200, b"ok")
    finally:
        await c.close()
    assert f"\r\nhost: hooks.example:{server.port}\r\n".encode() in server.requests[0]
    assert resolver.asked == [("hooks.example", server.port)]  # one connection, one lookup


async def test_a_dead_address_falls_through_to_the_next(serve: Serve) -> None:
    server = await serve(answer_each(OK))
    # nothing listens on the port at 127.0.0.2 (the server is bound to 127.0.0.1 only)
    c = Http1Client(MapResolver("127.0.0.2", "127.0.0.1"), 512, "t")
    try:
        assert await post(c, server.url(host="hooks.example")) == (200, b"ok")
    finally:
        await c.close()
    assert server.connections == 1


def test_addr_infos_are_the_checked_addresses_and_never_resolve() -> None:
    infos = addr_infos(["127.0.0.2", "::1", "127.0.0.1"], 8443)
    assert [(i[0], i[1], i[4][:2]) for i in infos] == [
        (socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.2", 8443)),
        (socket.AF_INET6, socket.SOCK_STREAM, ("::1", 8443)),
        (socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 8443)),
    ]
    with pytest.raises(socket.gaierror):  # a name is not an address: no lookup is made
        addr_infos(["localhost"], 80)


class StartSpy:
    """Records what the client hands aiohappyeyeballs, then lets it connect for real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[list[tuple[str, int]], float | None]] = []
        self._real = aiohappyeyeballs.start_connection
        monkeypatch.setattr(httpclient, "start_connection", self)

    async def __call__(self, infos: list[Any], **kw: Any) -> socket.socket:
        self.calls.append(([i[4][:2] for i in infos], kw.get("happy_eyeballs_delay")))
        return await self._real(infos, **kw)


async def test_happy_eyeballs_races_past_an_address_that_never_answers(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An address whose SYNs are dropped (what a black-holed IPv6 route looks like): on
    loopback, a listening socket with a full accept queue drops them. The client must race
    the next checked address after the happy-eyeballs delay, not wait out a timeout."""
    server = await serve(answer_each(OK))
    silent = socket.socket()
    silent.bind(("127.0.0.2", server.port))
    silent.listen(0)
    filler = socket.create_connection(("127.0.0.2", server.port), timeout=1)  # queue full
    spy = StartSpy(monkeypatch)
    c = Http1Client(MapResolver("127.0.0.2", "127.0.0.1"), 512, "t")
    try:
        # the silent address really is silent: connecting there alone does not complete
        probe = socket.socket()
        probe.setblocking(False)
        assert probe.connect_ex(("127.0.0.2", server.port)) != 0
        await asyncio.sleep(0.3)
        assert probe.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        assert probe.connect_ex(("127.0.0.2", server.port)) != 0  # still in progress
        probe.close()
        t0 = time.monotonic()
        assert await post(c, server.url(host="hooks.example")) == (200, b"ok")
        elapsed = time.monotonic() - t0
    finally:
        await c.close()
        filler.close()
        silent.close()
    assert httpclient.HAPPY_EYEBALLS_DELAY_S <= elapsed < 1.5  # the old client: 5 s
    assert server.connections == 1
    assert spy.calls == [
        ([("127.0.0.2", server.port), ("127.0.0.1", server.port)], 0.25)
    ]  # exactly the checked addresses, in the resolver's order


async def test_happy_eyeballs_refused_address_falls_through_at_once(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await serve(answer_each(OK))
    spy = StartSpy(monkeypatch)
    c = Http1Client(MapResolver("127.0.0.2", "127.0.0.1"), 512, "t")  # nothing on .2
    try:
        t0 = time.monotonic()
        assert await post(c, server.url(host="hooks.example")) == (200, b"ok")
        elapsed = time.monotonic() - t0
        assert await post(c, server.url(host="hooks.example")) == (200, b"ok")  # pooled
    finally:
        await c.close()
    assert elapsed < httpclient.HAPPY_EYEBALLS_DELAY_S  # a refusal starts the next at once
    assert spy.calls == [([("127.0.0.2", server.port), ("127.0.0.1", server.port)], 0.25)]
    assert server.connections == 1


async def test_forbidden_address_is_never_handed_to_happy_eyeballs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = StartSpy(monkeypatch)
    c = Http1Client(MapResolver("127.0.0.1", "10.0.0.7"), 512, "t")  # one private among them
    try:
        with pytest.raises(ForbiddenAddress, match=r"10\.0\.0\.7"):
            await c.post(parse_target("http://hooks.example/"), {}, b"")
    finally:
        await c.close()
    assert spy.calls == []


async def test_all_addresses_failing_is_one_error(serve: Serve) -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    c = Http1Client(MapResolver("127.0.0.2", "127.0.0.1"), 512, "t")
    try:
        with pytest.raises(ConnectionRefusedError, match="Multiple exceptions"):
            await post(c, f"http://hooks.example:{port}/")
    finally:
        await c.close()


# --- TLS -------------------------------------------------------------------------------------


def tls_server_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    return ctx


async def test_tls_with_a_trusted_certificate(serve: Serve) -> None:
    server = await serve(answer_each(OK), ssl_context=tls_server_context())
    trusting = ssl.create_default_context(cafile=str(CERT))
    c = Http1Client(MapResolver("127.0.0.1"), 512, "t", ssl_context=trusting)
    try:
        assert await post(c, server.url(host="localhost", scheme="https")) == (200, b"ok")
        assert await post(c, server.url(host="localhost", scheme="https")) == (200, b"ok")
        # the certificate names 127.0.0.1 too
        assert await post(c, server.url(scheme="https")) == (200, b"ok")
    finally:
        await c.close()
    assert server.connections == 2  # one per origin, reused for the second POST
    assert f"\r\nhost: localhost:{server.port}\r\n".encode() in server.requests[0]


async def test_tls_certificate_for_another_name_is_refused(serve: Serve) -> None:
    server = await serve(answer_each(OK), ssl_context=tls_server_context())
    trusting = ssl.create_default_context(cafile=str(CERT))
    c = Http1Client(MapResolver("127.0.0.1"), 512, "t", ssl_context=trusting)
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match=r"mismatch|match"):
            await post(c, server.url(host="hooks.example", scheme="https"))
    finally:
        await c.close()


async def test_tls_untrusted_certificate_is_refused(serve: Serve) -> None:
    server = await serve(answer_each(OK), ssl_context=tls_server_context())
    c = Http1Client(MapResolver("127.0.0.1"), 512, "t")  # the default context
    try:
        with pytest.raises(OSError) as info:
            await post(c, server.url(host="localhost", scheme="https"))
    finally:
        await c.close()
    assert isinstance(info.value, ssl.SSLCertVerificationError)
    assert "self-signed" in str(info.value) or "self signed" in str(info.value)
    assert server.requests == []


async def test_tls_close_delimited_response(serve: Serve) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\n\r\nto the end")
        conn.close()

    server = await serve(handler, ssl_context=tls_server_context())
    trusting = ssl.create_default_context(cafile=str(CERT))
    c = Http1Client(MapResolver("127.0.0.1"), 512, "t", ssl_context=trusting)
    try:
        assert await post(c, server.url(host="localhost", scheme="https")) == (200, b"to the end")
        assert await post(c, server.url(host="localhost", scheme="https")) == (200, b"to the end")
    finally:
        await c.close()
    assert server.connections == 2
