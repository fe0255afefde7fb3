"""http1: the bytes of a POST (and the headers refused before anything is sent), and the
incremental response parser on llhttp (Content-Length, chunked and close-delimited framing,
interim responses, keep-alive, size limits, and every refusal a ProtocolError)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transport.http1 import (
    MAX_HEAD,
    InvalidHeader,
    ProtocolError,
    ResponseParser,
    encode_post,
)
from transport.target import parse_target

# --- encode_post --------------------------------------------------------------------------


def test_encode_post_bytes() -> None:
    t = parse_target("http://h.example:8080/hook?x=1")
    data = encode_post(
        t, {"content-type": "application/json", "webhook-id": "msg_1"}, b'{"a":1}', "bh/1.0"
    )
    assert data == (
        b"POST /hook?x=1 HTTP/1.1\r\n"
        b"host: h.example:8080\r\n"
        b"user-agent: bh/1.0\r\n"
        b"content-length: 7\r\n"
        b"content-type: application/json\r\n"
        b"webhook-id: msg_1\r\n"
        b'\r\n{"a":1}'
    )


def test_encode_post_with_authorization_and_empty_body() -> None:
    t = parse_target("https://u:p@[::1]/")
    data = encode_post(t, {}, b"", "ua")
    auth = base64.b64encode(b"u:p").decode()
    assert (
        data
        == (
            f"POST / HTTP/1.1\r\nhost: [::1]\r\nuser-agent: ua\r\ncontent-length: 0\r\n"
            f"authorization: Basic {auth}\r\n\r\n"
        ).encode()
    )


def test_encode_post_body_is_sent_as_is() -> None:
    body = bytes(range(256)) * 3
    data = encode_post(parse_target("http://h.example/"), {}, body, "ua")
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep and rest == body
    assert b"content-length: 768\r\n" in head + b"\r\n"


def test_errors_are_value_errors() -> None:
    assert issubclass(ProtocolError, ValueError)
    assert issubclass(InvalidHeader, ValueError)


@pytest.mark.parametrize(
    "value",
    [
        "a\r\nX-Injected: 1",
        "a\nb",
        "a\rb",
        "\r\n",
        "trailing\n",
        "a\x00b",
        "a\x1bb",
        "a\x7fb",
        "a\x85b",  # NEL, a C1 control some stacks take for a line break
    ],
)
def test_encode_post_refuses_control_characters_in_values(value: str) -> None:
    t = parse_target("http://h.example/")
    with pytest.raises(InvalidHeader, match="webhook-id holds a line break or control"):
        encode_post(t, {"content-type": "application/json", "webhook-id": value}, b"", "ua")
    with pytest.raises(InvalidHeader, match="user-agent holds"):
        encode_post(t, {}, b"", "ua" + value)


@pytest.mark.parametrize(
    "name",
    ["", "x-a\r\nx-b", "x-a\n", "with space", "colon:", "x-\x00", "caf\xe9", "tab\t", "(x)"],
)
def test_encode_post_refuses_header_names_that_are_not_tokens(name: str) -> None:
    with pytest.raises(InvalidHeader, match="is not an HTTP token"):
        encode_post(parse_target("http://h.example/"), {name: "v"}, b"", "ua")


def test_encode_post_takes_tabs_and_latin1_values_but_not_other_text() -> None:
    t = parse_target("http://h.example/")
    data = encode_post(t, {"x-a": "one\ttwo", "x-b": "café", "x-c": ""}, b"", "ua")
    assert b"\r\nx-a: one\ttwo\r\nx-b: caf\xe9\r\nx-c: \r\n\r\n" in data
    # not "printable" to Python, yet text: the exact check takes them
    data = encode_post(t, {"x-a": "no\xa0break", "x-b": "soft\xadhyphen"}, b"", "ua")
    assert b"\r\nx-a: no\xa0break\r\nx-b: soft\xadhyphen\r\n\r\n" in data
    with pytest.raises(InvalidHeader, match="Latin-1"):
        encode_post(t, {"x-a": "€"}, b"", "ua")


# --- ResponseParser: framing --------------------------------------------------------------


def parse(data: bytes, excerpt_limit: int = 512, eof: bool = False) -> ResponseParser:
    p = ResponseParser(excerpt_limit)
    p.feed(data)
    if eof:
        p.eof()
    return p


def test_content_length_response() -> None:
    p = ResponseParser(512)
    assert not p.started and p.status is None and not p.done
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhel")
    assert p.started and p.status == 200 and not p.done
    assert p.excerpt == b"hel"
    p.feed(b"lo")
    assert p.done and p.keep_alive
    assert p.excerpt == b"hello"


def test_excerpt_is_limited_but_the_body_is_read() -> None:
    body = b"x" * 100 + b"y" * 100
    p = parse(b"HTTP/1.1 500 Oops\r\nContent-Length: 200\r\n\r\n" + body, excerpt_limit=100)
    assert p.status == 500 and p.done and p.keep_alive
    assert p.excerpt == b"x" * 100
    p0 = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", excerpt_limit=0)
    assert p0.done and p0.excerpt == b""


def test_content_length_zero_is_done_at_the_head() -> None:
    p = parse(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
    assert p.status == 202 and p.done and p.keep_alive and p.excerpt == b""


def test_status_line_without_reason_and_header_spacing() -> None:
    p = parse(b"HTTP/1.1 201\r\ncontent-length:2\r\nX-Empty:\r\n\r\nok")
    assert p.status == 201 and p.done and p.excerpt == b"ok" and p.keep_alive


def test_repeated_content_lengths_are_refused_even_equal() -> None:
    # llhttp refuses any second Content-Length (RFC 9112 lets a client take equal ones)
    with pytest.raises(ProtocolError, match="Duplicate Content-Length"):
        parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok")


def test_chunked_response_with_extensions_and_trailers() -> None:
    p = ResponseParser(512)
    p.feed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n"
        b"1A;ext\r\n" + b"a" * 26 + b"\r\n"
        b"0;last\r\n"
        b"X-Trailer: 1\r\n"
        b"Another: two\r\n"
    )
    assert p.status == 200 and not p.done  # the empty line ending the trailers is missing
    assert p.excerpt == b"hello" + b"a" * 26
    p.feed(b"\r\n")
    assert p.done and p.keep_alive


def test_space_before_a_chunk_extension_is_refused() -> None:
    # RFC 9112 allows "1A ; ext"; llhttp refuses it unless made lenient (it has been a
    # smuggling vector), and chunk extensions in a webhook's answer are rare enough
    with pytest.raises(ProtocolError, match="chunk size"):
        parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 ; ext\r\nok\r\n")


def test_chunked_response_without_trailers_and_te_list() -> None:
    p = parse(
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    assert p.status == 404 and p.done and p.keep_alive and p.excerpt == b"abc"


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 100\r\nTransfer-Encoding: chunked",
        b"Transfer-Encoding: chunked\r\nContent-Length: 2",
        b"Transfer-Encoding: gzip\r\nContent-Length: 2",
        b"Content-Length: 2\r\nTransfer-Encoding: gzip, chunked",
    ],
)
def test_content_length_with_transfer_encoding_is_refused(head: bytes) -> None:
    # both framings: which one the server meant is a guess (request smuggling lives there)
    p = ResponseParser(512)
    with pytest.raises(ProtocolError, match="can't be present with"):
        p.feed(b"HTTP/1.1 200 OK\r\n" + head + b"\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    assert not p.done and not p.keep_alive


def test_chunked_not_done_before_the_last_chunk() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n")
    assert not p.done and p.excerpt == b"ok"
    p.feed(b"0\r\n\r\n")
    assert p.done and p.keep_alive


def test_close_delimited_body_ends_at_eof() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome ")
    assert p.status == 200 and not p.done and not p.keep_alive
    p.feed(b"body")
    assert not p.done
    p.eof()
    assert p.done and not p.keep_alive and p.excerpt == b"some body"


def test_close_delimited_empty_body() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\n\r\n", eof=True)
    assert p.done and p.excerpt == b"" and not p.keep_alive


@pytest.mark.parametrize("coding", [b"gzip", b"chunked, gzip"])
def test_transfer_encoding_not_ending_in_chunked_is_close_delimited(coding: bytes) -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + b"\r\n\r\nabcd")
    assert not p.done and not p.keep_alive
    p.eof()
    assert p.done and p.excerpt == b"abcd"


@pytest.mark.parametrize("interim", [b"100 Continue", b"103 Early Hints", b"102 Processing"])
def test_interim_responses_are_skipped(interim: bytes) -> None:
    p = ResponseParser(512)
    p.feed(b"HTTP/1.1 " + interim + b"\r\nLink: </style.css>; rel=preload\r\n\r\n")
    assert p.status is None and not p.done
    assert p.started  # bytes of the response arrived: a dead connection now is not stale
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert p.status == 200 and p.done and p.keep_alive and p.excerpt == b"ok"


def test_several_interim_responses_in_one_feed() -> None:
    p = parse(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
    )
    assert p.status == 204 and p.done and p.keep_alive


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    # 304 may carry the Content-Length of the representation; neither has a body
    p = parse(f"HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n".encode())
    assert p.status == status and p.done and p.keep_alive and p.excerpt == b""
    q = parse(f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    assert q.done and q.keep_alive


@pytest.mark.parametrize(
    "connection", [b"close", b"Close", b"keep-alive, close", b"upgrade,CLOSE", b" close "]
)
def test_connection_close(connection: bytes) -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nConnection: " + connection + b"\r\nContent-Length: 2\r\n\r\nok")
    assert p.status == 200 and p.done and not p.keep_alive and p.excerpt == b"ok"


def test_connection_header_without_close_keeps_alive() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
    assert p.done and p.keep_alive
    q = parse(b"HTTP/1.1 200 OK\r\nX-Connection: close\r\nContent-Length: 0\r\n\r\n")
    assert q.keep_alive  # another header's value is not the Connection header


def test_http10_closes_unless_keep_alive() -> None:
    p = parse(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert p.done and not p.keep_alive and p.excerpt == b"ok"
    q = parse(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok")
    assert q.done and q.keep_alive
    r = parse(b"HTTP/1.0 200 OK\r\n\r\nrest", eof=True)
    assert r.done and not r.keep_alive and r.excerpt == b"rest"


def test_body_beyond_the_drain_limit_closes() -> None:
    p = ResponseParser(4, drain_limit=10)
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    assert not p.done
    p.feed(b"a" * 10)
    assert not p.done and p.keep_alive  # exactly the limit: still worth reading on
    p.feed(b"b")
    assert p.done and not p.keep_alive
    assert p.excerpt == b"aaaa"


def test_body_at_the_drain_limit_keeps_alive() -> None:
    p = ResponseParser(512, drain_limit=10)
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + b"z" * 10)
    assert p.done and p.keep_alive


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n",
    ],
)
def test_drain_limit_applies_to_chunked_and_close_delimited(head: bytes) -> None:
    chunked = b"chunked" in head
    p = ResponseParser(3, drain_limit=8)
    p.feed(head)
    p.feed(b"9\r\n123456789\r\n" if chunked else b"123456789")
    assert p.done and not p.keep_alive and p.excerpt == b"123"
    p.eof()  # the connection closing afterwards changes nothing
    assert p.done


def test_bytes_beyond_the_response_stop_keep_alive() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
    assert p.done and p.status == 200 and p.excerpt == b"ok" and not p.keep_alive
    q = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert q.keep_alive
    q.feed(b"")  # nothing is nothing
    assert q.keep_alive
    q.feed(b"HTTP/1.1 200 OK\r\n")  # a second response no request asked for
    assert q.done and not q.keep_alive and q.excerpt == b"ok"
    r = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX")
    assert r.done and not r.keep_alive
    s = parse(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    assert s.done and not s.keep_alive and s.status == 204
    t = parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokX")
    assert t.done and not t.keep_alive and t.excerpt == b"ok"  # llhttp refuses what follows


def test_blank_lines_around_a_response_are_ignored() -> None:
    # llhttp skips empty lines before a message, as RFC 9112 (2.2) asks of a server; they
    # carry nothing, so the connection stays in step and is kept
    p = parse(b"\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n")
    assert p.done and p.status == 204 and p.keep_alive


def test_eof_after_a_complete_response_only_stops_keep_alive() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert p.keep_alive
    p.eof()
    assert p.done and not p.keep_alive and p.status == 200 and p.excerpt == b"ok"


def test_started_after_the_first_byte() -> None:
    p = ResponseParser(512)
    p.feed(b"")
    assert not p.started
    p.feed(b"H")
    assert p.started and p.status is None


# --- ResponseParser: errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    "status_line",
    [
        b"garbage",
        b"HTTP/2 200 OK",
        b"HTTP/1.1",
        b"HTTP/1.1 ",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 200OK",
        b"HTTP/1.1 abc OK",
        b"HTTP/1.1 +20 OK",
        b"HTTP/1.1 \xb200 OK",  # a superscript two: "isdigit" but not a digit
        b"HTTP/1.1  200 OK",
        b"http/1.1 200 OK",
        b"ICY 200 OK",
        b"SSH-2.0-OpenSSH_9.6",
        b"",
        b"HTTP/2.0 200 OK",  # llhttp parses these versions; only 1.0 and 1.1 are HTTP/1.x
        b"HTTP/0.9 200 OK",
        b"HTTP/1.2 200 OK",
        b"RTSP/1.0 200 OK",  # llhttp takes RTSP and ICE as well
        b"ICE/1.0 200 OK",
        b"\r\nRTSP/1.0 200 OK",
        b"HTTP/1.1 099 Low",
    ],
)
def test_malformed_status_lines(status_line: bytes) -> None:
    with pytest.raises(ProtocolError, match=r"^not an HTTP/1\.x status line \("):
        parse(status_line + b"\r\nContent-Length: 0\r\n\r\n")


def test_status_line_ending_in_a_bare_lf() -> None:
    with pytest.raises(ProtocolError, match=r"^malformed response head \(Missing expected CR"):
        parse(b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9"])
def test_final_response_after_an_interim_one_is_checked_too(version: bytes) -> None:
    with pytest.raises(ProtocolError, match=r"^not an HTTP/1\.x status line"):
        parse(b"HTTP/1.1 100 Continue\r\n\r\n" + version + b" 200 OK\r\nContent-Length: 0\r\n\r\n")


def test_101_is_refused_as_no_upgrade_was_asked_for() -> None:
    for head in (b"Upgrade: websocket\r\nConnection: upgrade\r\n", b""):
        with pytest.raises(ProtocolError, match="101 Switching Protocols"):
            parse(b"HTTP/1.1 101 Switching Protocols\r\n" + head + b"\r\nbinary")


@pytest.mark.parametrize(
    "header",
    [
        b" folded: value",
        b"\tfolded",
        b"NoColon",
        b": no name",
        b"Name : value",
        b"A: b\r\n folded",  # obs-fold
        b"Bad\x01Name: v",
        b"X: a\x00b",
        b"X: a\x7fb",
        b"X: a\rb",  # a bare CR
        b"X: a\nY: b",  # a bare LF
    ],
)
def test_malformed_header_lines(header: bytes) -> None:
    with pytest.raises(ProtocolError, match=r"^malformed response head \("):
        parse(b"HTTP/1.1 200 OK\r\n" + header + b"\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize(
    "length", [b"abc", b"-1", b"+1", b"1.5", b"", b"1 2", b"0x10", b"\xb2", b"1, 1", b"1e3"]
)
def test_bad_content_length(length: bytes) -> None:
    with pytest.raises(ProtocolError, match=r"(?i)content-length"):
        parse(b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\n")


def test_conflicting_content_lengths() -> None:
    with pytest.raises(ProtocolError, match="Duplicate Content-Length"):
        parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk")


@pytest.mark.parametrize(
    "size",
    [b"zz", b"", b"-1", b"+a", b"0x10", b"1_0", b"1 0", b"1" * 17, b"\xb2", b"g", b";ext"],
)
def test_bad_chunk_sizes(size: bytes) -> None:
    with pytest.raises(ProtocolError, match=r"(?i)chunk size"):
        parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size + b"\r\nxx\r\n")


def test_sixteen_hex_digit_chunk_size_is_accepted() -> None:
    p = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000002\r\nok")
    assert p.excerpt == b"ok" and not p.done


def test_chunk_data_not_followed_by_crlf() -> None:
    with pytest.raises(ProtocolError, match="after chunk data"):
        parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n")


def test_oversized_head_fed_in_pieces() -> None:
    p = ResponseParser(512)
    p.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(ProtocolError, match="larger than"):
        for _ in range(MAX_HEAD // 1000 + 2):
            p.feed(b"X-Filler: " + b"a" * 988 + b"\r\n")


def test_oversized_head_fed_whole() -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * MAX_HEAD + b"\r\nContent-Length: 0\r\n\r\n"
    with pytest.raises(ProtocolError, match="larger than"):
        parse(head)


def test_head_at_the_limit_is_accepted_whole_and_in_pieces() -> None:
    start = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: "
    head = start + b"a" * (MAX_HEAD - len(start)) + b"\r\n\r\n"
    assert head.index(b"\r\n\r\n") == MAX_HEAD
    assert parse(head).done
    p = ResponseParser(512)
    for i in range(0, len(head), 7):
        p.feed(head[i : i + 7])
    assert p.done and p.status == 200


def test_overlong_chunk_extension() -> None:
    p = ResponseParser(512)
    p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;")
    with pytest.raises(ProtocolError, match="chunk framing larger than"):
        p.feed(b"x" * (MAX_HEAD + 10))
    q = ResponseParser(512)
    q.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;")
    with pytest.raises(ProtocolError, match="chunk framing larger than"):
        for _ in range(MAX_HEAD // 1000 + 2):
            q.feed(b"x" * 1000)


def test_overlong_trailers() -> None:
    p = ResponseParser(512)
    p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nT: ")
    with pytest.raises(ProtocolError, match="chunk framing larger than"):
        for _ in range(MAX_HEAD // 1000 + 2):
            p.feed(b"t" * 1000)


def test_many_chunks_are_not_framing_overflow() -> None:
    # a body of tiny chunks has more framing than body; each chunk brings its allowance
    p = ResponseParser(512)
    p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(30_000):
        p.feed(b"0000000000000001\r\nx\r\n")
    p.feed(b"0\r\n\r\n")
    assert p.done and p.keep_alive and p.excerpt == b"x" * 512


def test_endless_interim_responses_are_refused() -> None:
    p = ResponseParser(512)
    with pytest.raises(ProtocolError, match="head larger than"):
        for _ in range(MAX_HEAD // 25 + 1):
            p.feed(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert p.status is None


def test_eof_before_the_head() -> None:
    p = ResponseParser(512)
    with pytest.raises(ProtocolError, match="before a complete response head"):
        p.eof()
    q = ResponseParser(512)
    q.feed(b"HTTP/1.1 200 OK\r\nContent-Le")
    with pytest.raises(ProtocolError, match="before a complete response head"):
        q.eof()
    r = ResponseParser(512)
    r.feed(b"HTTP/1.1 100 Continue\r\n\r\n")
    with pytest.raises(ProtocolError, match="before a complete response head"):
        r.eof()


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
    ],
)
def test_eof_in_the_middle_of_the_body(data: bytes) -> None:
    p = parse(data)
    assert not p.done
    with pytest.raises(ProtocolError, match="middle of the response body"):
        p.eof()
    assert not p.keep_alive


# --- ResponseParser: any split of the bytes parses alike ----------------------------------


@st.composite
def responses(draw: st.DrawFn) -> tuple[bytes, bytes, str, int, bool]:
    """(the response's bytes, its body, its framing, its status, whether it ends the
    connection whatever its size)."""
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    status = draw(st.sampled_from([200, 201, 202, 400, 404, 500, 503]))
    body = draw(st.binary(max_size=300))
    minor = draw(st.sampled_from([0, 1]))
    connection = draw(st.sampled_from([None, "close", "keep-alive"]))
    head = [f"HTTP/1.{minor} {status} Reason Phrase"]
    if connection is not None:
        head.append(f"Connection: {connection}")
    head.append("Content-Type: text/plain")
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" if draw(st.booleans()) else b""
    if framing == "length":
        head.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        head.append("Transfer-Encoding: chunked")
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=6)))
        payload = b""
        for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True):
            if a < b:
                ext = b";x=y" if draw(st.booleans()) else b""
                payload += f"{b - a:x}".encode() + ext + b"\r\n" + body[a:b] + b"\r\n"
        payload += b"0\r\n" + (b"T: 1\r\n" if draw(st.booleans()) else b"") + b"\r\n"
    else:
        payload = body
    raw = interim + ("\r\n".join(head) + "\r\n\r\n").encode() + payload
    closing = (
        framing == "close" or connection == "close" or (minor == 0 and connection != "keep-alive")
    )
    return raw, body, framing, status, closing


def outcome(
    pieces: list[bytes], framing: str, excerpt_limit: int, drain_limit: int
) -> tuple[int | None, bytes, bool, bool]:
    p = ResponseParser(excerpt_limit, drain_limit)
    for piece in pieces:
        p.feed(piece)
    if framing == "close":
        p.eof()
    return p.status, bytes(p.excerpt), p.keep_alive, p.done


@settings(max_examples=300, deadline=None)
@given(
    response=responses(),
    cuts=st.lists(st.integers(0, 2000), max_size=12),
    excerpt_limit=st.integers(0, 400),
    drain_limit=st.sampled_from([50, 1024 * 1024]),
)
def test_any_split_parses_like_the_whole(
    response: tuple[bytes, bytes, str, int, bool],
    cuts: list[int],
    excerpt_limit: int,
    drain_limit: int,
) -> None:
    raw, body, framing, status, closing = response
    bounds = sorted({min(c, len(raw)) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *bounds], [*bounds, len(raw)], strict=True)]
    assert b"".join(pieces) == raw
    whole = outcome([raw], framing, excerpt_limit, drain_limit)
    assert outcome(pieces, framing, excerpt_limit, drain_limit) == whole
    assert (
        outcome([raw[i : i + 1] for i in range(len(raw))], framing, excerpt_limit, drain_limit)
        == whole
    )
    assert whole == (
        status,
        body[:excerpt_limit],
        not (closing or len(body) > drain_limit),
        True,
    )


@settings(max_examples=400, deadline=None)
@given(
    response=responses(),
    edits=st.lists(st.tuples(st.integers(0, 2000), st.binary(max_size=3)), max_size=4),
    cuts=st.lists(st.integers(0, 2000), max_size=6),
    eof=st.booleans(),
)
def test_any_damage_is_a_protocol_error_or_a_response(
    response: tuple[bytes, bytes, str, int, bool],
    edits: list[tuple[int, bytes]],
    cuts: list[int],
    eof: bool,
) -> None:
    """Whatever the bytes, llhttp's refusals come out as ProtocolError: no httptools
    exception (nor any other) escapes, and a parser that refused is not kept alive."""
    raw = bytearray(response[0])
    for at, text in edits:  # overwrite, insert or delete a few bytes
        at = min(at, len(raw))
        raw[at : at + len(text) % 3] = text
    bounds = sorted({min(c, len(raw)) for c in cuts})
    pieces = [bytes(raw[a:b]) for a, b in zip([0, *bounds], [*bounds, len(raw)], strict=True)]
    p = ResponseParser(100, drain_limit=200)
    try:
        for piece in pieces:
            p.feed(piece)
        if eof:
            p.eof()
    except ProtocolError:
        assert not p.keep_alive
        return
    if p.done:
        assert p.status is not None and 200 <= p.status <= 999
        assert len(p.excerpt) <= 100
