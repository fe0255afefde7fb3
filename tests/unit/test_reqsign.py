"""reqsign: the signed-request contract, checked against an HMAC written out here."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.reqsign import (
    NONCE_RE,
    SCHEME,
    TIMESTAMP_RE,
    WINDOW_S,
    body_hash,
    canonical,
    sign_headers,
    signature,
    signature_ok,
    timestamp_fresh,
)

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
NONCE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def expected_signature(
    secret: str, timestamp: str, nonce: str, method: str, path_and_query: str, body: bytes
) -> str:
    """The contract, spelled out without the module."""
    text = (
        f"{timestamp}\n{nonce}\n{method.upper()}\n{path_and_query}\n"
        f"{hashlib.sha256(body).hexdigest()}"
    )
    mac = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


# (secret, timestamp, nonce, method, path_and_query, body, signature): the signatures were
# computed once with hmac/hashlib/base64 alone and pasted here.
VECTORS: list[tuple[str, str, str, str, str, bytes, str]] = [
    (
        "bhs_test_secret_1",
        "1700000000",
        "nonce-1",
        "GET",
        "/v1/monitors?limit=10",
        b"",
        "v1,NflU3jqKXnt7trxHpwvIC5EgdEs7KADyc3uE7W63chA=",
    ),
    (
        "s3cr3t",
        "1700000123",
        "abc_DEF-123",
        "POST",
        "/v1/monitors",
        b'{"name":"m1","chain_id":1}',
        "v1,dMzei5PvQdb4ZT7ZNC+kx/j1hVTdewmGs2wqxfhCb0o=",
    ),
    (
        "clé-secrète-ü",
        "1712345678",
        "Z",
        "DELETE",
        "/v1/monitors/mon_1?force=true&x=%20y",
        "tschüß €".encode(),
        "v1,rPDKz9vc/jh9J5PTDN44pr9ab8cCh7Urth5TQCrRH4Y=",
    ),
]

BASE = VECTORS[1]


@pytest.mark.parametrize(("secret", "ts", "nonce", "method", "pq", "body", "want"), VECTORS)
def test_fixed_vectors(
    secret: str, ts: str, nonce: str, method: str, pq: str, body: bytes, want: str
) -> None:
    assert signature(secret, ts, nonce, method, pq, body) == want
    assert expected_signature(secret, ts, nonce, method, pq, body) == want
    assert signature_ok(secret, want, ts, nonce, method, pq, body)


@pytest.mark.parametrize(("secret", "ts", "nonce", "method", "pq", "body", "want"), VECTORS)
def test_method_is_upper_cased(
    secret: str, ts: str, nonce: str, method: str, pq: str, body: bytes, want: str
) -> None:
    for spelling in (method.lower(), method.capitalize(), method.swapcase()):
        assert signature(secret, ts, nonce, spelling, pq, body) == want
        assert signature_ok(secret, want, ts, nonce, spelling, pq, body)


def test_body_hash_of_empty_body_is_sha256_of_nothing() -> None:
    assert body_hash(b"") == EMPTY_SHA256
    assert body_hash(b"abc") == hashlib.sha256(b"abc").hexdigest()


def test_canonical_text() -> None:
    got = canonical("1700000000", "n1", "post", "/v1/monitors?limit=10&after=x", b"{}")
    want = (
        "1700000000\nn1\nPOST\n/v1/monitors?limit=10&after=x\n" + hashlib.sha256(b"{}").hexdigest()
    ).encode()
    assert got == want


def test_canonical_keeps_the_query_exactly_as_sent() -> None:
    a = canonical("1", "n", "GET", "/v1/monitors?limit=10&offset=0", b"")
    b = canonical("1", "n", "GET", "/v1/monitors?offset=0&limit=10", b"")
    c = canonical("1", "n", "GET", "/v1/monitors", b"")
    assert len({a, b, c}) == 3
    assert b"/v1/monitors?limit=10&offset=0\n" in a


def test_canonical_is_utf8() -> None:
    got = canonical("1", "n", "PUT", "/v1/labels/ü", "€".encode())
    assert "/v1/labels/ü".encode() in got
    assert got.endswith(hashlib.sha256("€".encode()).hexdigest().encode())


def test_secret_is_the_whole_string_as_utf8() -> None:
    """Not base64-decoded, not stripped of a prefix: the UTF-8 bytes of the whole text."""
    secret = "bhs_" + base64.b64encode(b"\x00" * 32).decode()
    args = ("1700000000", "n", "GET", "/v1/x", b"")
    assert signature(secret, *args) == expected_signature(secret, *args)
    assert signature(secret, *args) != expected_signature(secret[4:], *args)


def test_non_ascii_secret_and_body() -> None:
    secret = "пароль-秘密-🔑"
    body = '{"label":"Grüße, 世界 🚀"}'.encode()
    args = ("1700000000", "nonce_x", "patch", "/v1/wallets/w1?note=é", body)
    want = expected_signature(secret, *args)
    assert signature(secret, *args) == want
    assert signature_ok(secret, want, *args)
    # the latin-1 bytes of the same secret are another key
    latin = "clé"
    wrong = base64.b64encode(
        hmac.new(latin.encode("latin-1"), canonical(*args), hashlib.sha256).digest()
    ).decode()
    assert not signature_ok(latin, SCHEME + wrong, *args)


@given(
    secret=st.text(min_size=1, max_size=80).filter(
        lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)
    ),
    ts=st.integers(min_value=0, max_value=10**12 - 1).map(str),
    nonce=st.text(alphabet=NONCE_CHARS, min_size=1, max_size=64),
    method=st.sampled_from(["get", "GET", "Post", "put", "PATCH", "delete"]),
    pq=st.from_regex(r"\A/[a-z0-9/]{0,30}(\?[a-z0-9=&%]{0,30})?\Z"),
    body=st.binary(max_size=200),
)
def test_matches_independent_hmac(
    secret: str, ts: str, nonce: str, method: str, pq: str, body: bytes
) -> None:
    want = expected_signature(secret, ts, nonce, method, pq, body)
    assert signature(secret, ts, nonce, method, pq, body) == want
    assert signature_ok(secret, want, ts, nonce, method, pq, body)


def _flip(text: str, i: int) -> str:
    c = text[i]
    return text[:i] + ("B" if c == "A" else "A") + text[i + 1 :]


@pytest.mark.parametrize("i", [3, 4, 10, 20, 30, 42, 43])
def test_rejects_one_flipped_char(i: int) -> None:
    secret, ts, nonce, method, pq, body, good = BASE
    bad = _flip(good, i)
    assert bad != good
    assert not signature_ok(secret, bad, ts, nonce, method, pq, body)


@pytest.mark.parametrize("prefix", ["v2,", "V1,", "v1:", "v1", "", "v1, ", "v1a,"])
def test_rejects_wrong_scheme_prefix(prefix: str) -> None:
    secret, ts, nonce, method, pq, body, good = BASE
    bad = prefix + good.removeprefix("v1,")
    assert not signature_ok(secret, bad, ts, nonce, method, pq, body)


def test_rejects_bare_base64_and_padding_games() -> None:
    secret, ts, nonce, method, pq, body, good = BASE
    for bad in (good[3:], good.rstrip("="), good + "=", good + " ", " " + good, good + "\n"):
        assert not signature_ok(secret, bad, ts, nonce, method, pq, body)


def test_rejects_other_secret() -> None:
    secret, ts, nonce, method, pq, body, good = BASE
    for other in ("s3cr3T", "s3cr3t ", "", "s3cr3", secret + secret):
        assert not signature_ok(other, good, ts, nonce, method, pq, body)


def test_rejects_tampered_body() -> None:
    secret, ts, nonce, method, pq, body, good = BASE
    for bad_body in (body + b" ", body.replace(b"1", b"2"), b"", body[:-1]):
        assert not signature_ok(secret, good, ts, nonce, method, pq, bad_body)


def test_rejects_tampered_query_and_path() -> None:
    secret, ts, nonce, method, _pq, body, _ = VECTORS[0]
    good = VECTORS[0][6]
    pq = "/v1/monitors?limit=10"
    assert signature_ok(secret, good, ts, nonce, method, pq, body)
    for bad in (
        "/v1/monitors?limit=100",
        "/v1/monitors?limit=10&x=1",
        "/v1/monitors",
        "/v1/monitors?",
        "/v1/monitors/?limit=10",
        "/v1/Monitors?limit=10",
    ):
        assert not signature_ok(secret, good, ts, nonce, method, bad, body)


def test_rejects_other_timestamp_nonce_or_method() -> None:
    secret, ts, nonce, method, pq, body, good = BASE
    assert not signature_ok(secret, good, str(int(ts) + 1), nonce, method, pq, body)
    assert not signature_ok(secret, good, ts, nonce + "x", method, pq, body)
    assert not signature_ok(secret, good, ts, nonce, "PUT", pq, body)


@pytest.mark.parametrize(
    "header",
    [
        "v1,ñññ",
        "v1," + "é" * 44,
        "🔑",
        "v1,\udc80\udcff",  # lone surrogates, as a header decoded with surrogateescape
        "\x00\x01",
        "",
        "v1,",
    ],
)
def test_garbage_header_is_false_not_an_error(header: str) -> None:
    secret, ts, nonce, method, pq, body, _ = BASE
    assert signature_ok(secret, header, ts, nonce, method, pq, body) is False


@given(st.text(max_size=100))
def test_any_header_text_answers_a_bool(header: str) -> None:
    secret, ts, nonce, method, pq, body, good = BASE
    assert signature_ok(secret, header, ts, nonce, method, pq, body) is (header == good)


@pytest.mark.parametrize("delta", [-WINDOW_S, -299.5, -1, 0, 1, 299.999, WINDOW_S])
def test_timestamp_fresh_within_window(delta: float) -> None:
    now = 1_700_000_000.0
    assert timestamp_fresh(1_700_000_000, now + delta)


@pytest.mark.parametrize("delta", [-301, 301, -300.001, 300.001, 10_000, -10_000])
def test_timestamp_stale_outside_window(delta: float) -> None:
    now = 1_700_000_000.0
    assert not timestamp_fresh(1_700_000_000, now + delta)


def test_timestamp_window_edges_either_way() -> None:
    ts = 1_700_000_000
    assert WINDOW_S == 300
    assert timestamp_fresh(ts, ts + 300)  # 300 s in the past: ok
    assert timestamp_fresh(ts, ts - 300)  # 300 s in the future: ok
    assert not timestamp_fresh(ts, ts + 301)
    assert not timestamp_fresh(ts, ts - 301)
    assert timestamp_fresh(ts, ts + 10, window_s=10)
    assert not timestamp_fresh(ts, ts + 11, window_s=10)


@pytest.mark.parametrize(
    "nonce",
    ["a", "Z", "0", "_", "-", "a" * 64, NONCE_CHARS[:64], "abc-DEF_123", "--__--"],
)
def test_nonce_re_accepts(nonce: str) -> None:
    assert NONCE_RE.match(nonce)
    assert NONCE_RE.fullmatch(nonce)


@pytest.mark.parametrize(
    "nonce",
    [
        "",
        "a" * 65,
        "a" * 100,
        "a b",
        " a",
        "a ",
        "a.b",
        "a+b",
        "a/b",
        "a=",
        "é",
        "\uff41",  # fullwidth a
        "\u0661",  # arabic-indic digit one
        "a\tb",
        "\na",
        "a\x00",
    ],
)
def test_nonce_re_refuses(nonce: str) -> None:
    assert not NONCE_RE.match(nonce)


@pytest.mark.parametrize("nonce", ["a\n", "a" * 64 + "\n"])
def test_nonce_re_refuses_trailing_newline(nonce: str) -> None:
    assert not NONCE_RE.match(nonce)


def test_timestamp_re_refuses_trailing_newline() -> None:
    assert not TIMESTAMP_RE.match("1700000000\n")


@pytest.mark.parametrize("ts", ["0", "1700000000", "9" * 12])
def test_timestamp_re_accepts(ts: str) -> None:
    assert TIMESTAMP_RE.match(ts)


@pytest.mark.parametrize("ts", ["", "-1", "1.5", "1e9", " 1", "1 ", "9" * 13, "١٢٣", "0x10"])
def test_timestamp_re_refuses(ts: str) -> None:
    assert not TIMESTAMP_RE.match(ts)


def test_sign_headers_are_accepted() -> None:
    now = 1_700_000_000.75
    body = '{"a":"ü"}'.encode()
    h = sign_headers("key_1", "s3cr3t-ü", "post", "/v1/monitors?dry=1", body, now)
    assert set(h) == {"bh-key", "bh-timestamp", "bh-nonce", "bh-signature"}
    assert h["bh-key"] == "key_1"
    assert h["bh-timestamp"] == "1700000000"
    assert TIMESTAMP_RE.match(h["bh-timestamp"])
    assert NONCE_RE.fullmatch(h["bh-nonce"])
    assert h["bh-signature"].startswith("v1,")
    assert h["bh-signature"] == expected_signature(
        "s3cr3t-ü", h["bh-timestamp"], h["bh-nonce"], "POST", "/v1/monitors?dry=1", body
    )
    assert signature_ok(
        "s3cr3t-ü",
        h["bh-signature"],
        h["bh-timestamp"],
        h["bh-nonce"],
        "POST",
        "/v1/monitors?dry=1",
        body,
    )
    assert timestamp_fresh(int(h["bh-timestamp"]), now)
    assert not signature_ok(
        "s3cr3t-ü",
        h["bh-signature"],
        h["bh-timestamp"],
        h["bh-nonce"],
        "POST",
        "/v1/monitors?dry=2",
        body,
    )


def test_sign_headers_nonces_are_fresh() -> None:
    nonces = {
        sign_headers("k", "s", "GET", "/v1/x", b"", 1_700_000_000.0)["bh-nonce"] for _ in range(200)
    }
    assert len(nonces) == 200
    assert all(NONCE_RE.fullmatch(n) for n in nonces)


def test_sign_headers_same_request_signs_differently() -> None:
    a = sign_headers("k", "s", "GET", "/v1/x", b"", 1_700_000_000.0)
    b = sign_headers("k", "s", "GET", "/v1/x", b"", 1_700_000_000.0)
    assert a["bh-nonce"] != b["bh-nonce"]
    assert a["bh-signature"] != b["bh-signature"]
