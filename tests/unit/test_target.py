"""target: webhook URLs taken apart (scheme, host and port, the request target, the Host
header, Basic credentials), and what is refused before anything is sent."""

from __future__ import annotations

import base64

import pytest

from transport.http1 import encode_post
from transport.target import InvalidURL, Target, parse_target

# --- parse_target -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "port", "host_header"),
    [
        ("http://example.com/hook", 80, "example.com"),
        ("https://example.com/hook", 443, "example.com"),
        ("http://example.com:80/hook", 80, "example.com"),
        ("https://example.com:443/hook", 443, "example.com"),
        ("http://example.com:8080/hook", 8080, "example.com:8080"),
        ("https://example.com:80/hook", 80, "example.com:80"),
        ("http://example.com:443/hook", 443, "example.com:443"),
        ("http://example.com:/hook", 80, "example.com"),
    ],
)
def test_parse_target_ports_and_host_header(url: str, port: int, host_header: str) -> None:
    t = parse_target(url)
    assert t.host == "example.com"
    assert t.port == port
    assert t.host_header == host_header
    assert t.path == "/hook"
    assert t.authorization is None
    assert t.origin == (t.scheme, "example.com", port)
    assert t.tls is (t.scheme == "https")
    assert not t.ip_literal


def test_parse_target_lowercases_scheme_and_host_but_not_path() -> None:
    t = parse_target("HTTPS://Hooks.EXAMPLE.com/Path/To?Q=Big")
    assert (t.scheme, t.host, t.port) == ("https", "hooks.example.com", 443)
    assert t.tls
    assert t.host_header == "hooks.example.com"
    assert t.path == "/Path/To?Q=Big"


@pytest.mark.parametrize(
    ("url", "host", "port", "host_header"),
    [
        ("http://[::1]/h", "::1", 80, "[::1]"),
        ("http://[::1]:8080/h", "::1", 8080, "[::1]:8080"),
        ("https://[2001:DB8::1]/h", "2001:db8::1", 443, "[2001:db8::1]"),
        ("http://127.0.0.1:9000/h", "127.0.0.1", 9000, "127.0.0.1:9000"),
        ("http://10.1.2.3/h", "10.1.2.3", 80, "10.1.2.3"),
    ],
)
def test_parse_target_ip_literals(url: str, host: str, port: int, host_header: str) -> None:
    t = parse_target(url)
    assert (t.host, t.port, t.host_header) == (host, port, host_header)
    assert t.ip_literal
    assert t.path == "/h"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("http://h.example", "/"),
        ("http://h.example/", "/"),
        ("http://h.example?x=1", "/?x=1"),
        ("http://h.example/a/b?x=1&y=%20z", "/a/b?x=1&y=%20z"),
        ("http://h.example/a%2Fb/c", "/a%2Fb/c"),
        ("http://h.example/hook#fragment", "/hook"),
        ("http://h.example/hook?q=1#fragment", "/hook?q=1"),
        ("http://h.example//double", "//double"),
    ],
)
def test_parse_target_path_and_query_kept_fragment_dropped(url: str, path: str) -> None:
    assert parse_target(url).path == path


def test_international_names_are_encoded_as_yarl_encodes_them() -> None:
    from yarl import URL

    for host in ("faß.example", "BÜCHER.example", "ελληνικά.example", "日本語.jp"):
        t = parse_target(f"https://{host}/h")
        assert t.host == URL(f"https://{host}/h").raw_host, host
    assert parse_target("https://faß.example/").host == "xn--fa-hia.example"  # IDNA 2008


def test_parse_target_non_ascii_is_percent_encoded_and_host_is_punycode() -> None:
    t = parse_target("https://bücher.example/café?q=€")
    assert t.host == "xn--bcher-kva.example"
    assert t.host_header == "xn--bcher-kva.example"
    assert t.path == "/caf%C3%A9?q=%E2%82%AC"
    # and the request can be encoded at all (latin-1 refuses "€")
    assert encode_post(t, {}, b"", "a").startswith(b"POST /caf%C3%A9?q=%E2%82%AC HTTP/1.1\r\n")


def test_parse_target_userinfo_becomes_basic_authorization() -> None:
    t = parse_target("https://alice:s%40cret@h.example/hook")
    assert t.authorization == "Basic " + base64.b64encode(b"alice:s@cret").decode()
    assert t.host == "h.example"
    assert t.host_header == "h.example"  # the credentials never reach the Host header
    assert parse_target("https://bob@h.example/").authorization == (
        "Basic " + base64.b64encode(b"bob:").decode()
    )
    assert parse_target("https://h.example/").authorization is None
    assert parse_target("https://@h.example/").authorization is None  # nothing given


@pytest.mark.parametrize(
    "url",
    [
        "ftp://h.example/x",
        "file:///etc/passwd",
        "ws://h.example/x",
        "gopher://h.example/x",
        "javascript:alert(1)",
        "h.example/hook",
        "//h.example/hook",
        "",
    ],
)
def test_parse_target_refuses_other_schemes(url: str) -> None:
    with pytest.raises(InvalidURL):
        parse_target(url)


@pytest.mark.parametrize(
    "url", ["http:///hook", "http://", "https://:443/hook", "http://user@/x", "http:/h/x"]
)
def test_parse_target_refuses_a_missing_host(url: str) -> None:
    with pytest.raises(InvalidURL, match="no host"):
        parse_target(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://h.example:99999/x",
        "http://h.example:-1/x",
        "http://h.example:abc/x",
        "http://h.example:0/x",
        "http://[::1/x",
    ],
)
def test_parse_target_refuses_bad_ports_and_brackets(url: str) -> None:
    with pytest.raises(InvalidURL):
        parse_target(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://h.example/a b",
        "http://h.example/hook ",
        "http://h.example/a?b=c d",
        "http://h.example/a\nb",
        "http://h.example/a\r\nX-Injected: 1",
        "http://h.example/a\tb",
        "http://h.example/a?x=\r\n",
        "http://h.example/a\x00b",
        "http://h.example/a\x7fb",
        "http://h.ex\x01ample/a",
        "http://h.example\r\n/a",
        "http://h.example/\x1b[31m",
    ],
)
def test_parse_target_refuses_spaces_and_control_characters(url: str) -> None:
    with pytest.raises(InvalidURL):
        parse_target(url)


def test_invalid_url_is_a_value_error() -> None:
    assert issubclass(InvalidURL, ValueError)


def test_target_is_frozen() -> None:
    t = parse_target("http://h.example/")
    assert isinstance(t, Target)
    with pytest.raises(AttributeError):
        t.host = "other.example"  # type: ignore[misc]
