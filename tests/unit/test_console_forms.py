"""console forms: capped fields, redirects, and flash messages bound to a session."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import MultiDict, MultiDictProxy

from console.forms import FLASH, field, fields, flash_of, flash_redirect, see_other
from streams.consoleauth import new_token

TOKEN = "session-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
OTHER = "session-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"


def form(*pairs: tuple[str, Any]) -> MultiDictProxy[Any]:
    return MultiDictProxy(MultiDict(list(pairs)))


def flash_cookie(resp: web.Response) -> str:
    return resp.cookies[FLASH].value


def flashed(token: str, notice: str = "", error: str = "") -> str:
    return flash_cookie(flash_redirect("/admin/x", token, True, notice=notice, error=error))


# Fields.


def test_field() -> None:
    f = form(("name", "  alice  "), ("empty", ""), ("n", 5), ("b", b"bytes"))
    assert field(f, "name", 100) == "alice"
    assert field(f, "empty", 100) == ""
    assert field(f, "missing", 100) == ""
    assert field(f, "n", 100) == ""  # not text (a number, an upload)
    assert field(f, "b", 100) == ""


def test_field_length_is_counted_before_stripping() -> None:
    f = form(("a", "abcd"), ("b", " abcd "), ("c", "abcde"))
    assert field(f, "a", 4) == "abcd"
    assert field(f, "b", 4) == ""  # six characters sent
    assert field(f, "b", 6) == "abcd"
    assert field(f, "c", 4) == ""  # too long is hostile: nothing, not a cut


def test_field_takes_the_first_of_repeated_values() -> None:
    assert field(form(("a", "one"), ("a", "two")), "a", 10) == "one"


def test_fields() -> None:
    f = form(("id", " a "), ("id", "b"), ("other", "x"), ("id", 7), ("id", "toolong"), ("id", ""))
    assert fields(f, "id", 4) == ["a", "b", ""]
    assert fields(f, "missing", 4) == []


def test_fields_caps_the_count() -> None:
    f = form(*[("id", str(i)) for i in range(50)])
    assert fields(f, "id", 10, max_n=5) == ["0", "1", "2", "3", "4"]
    assert len(fields(f, "id", 10)) == 50
    big = form(*[("id", "x")] * 1500)
    assert len(fields(big, "id", 10)) == 1000


@settings(max_examples=200)
@given(st.lists(st.text(max_size=12), max_size=20), st.integers(0, 12), st.integers(0, 25))
def test_fields_property(values: list[str], max_len: int, max_n: int) -> None:
    f = form(*[("v", v) for v in values])
    got = fields(f, "v", max_len, max_n)
    assert got == [v.strip() for v in values if len(v) <= max_len][:max_n]
    one = field(f, "v", max_len)
    assert one == (values[0].strip() if values and len(values[0]) <= max_len else "")


# Redirects.


def test_see_other() -> None:
    resp = see_other("/admin/monitors")
    assert resp.status == 303
    assert resp.headers["Location"] == "/admin/monitors"


def test_flash_redirect_without_a_message_sets_no_cookie() -> None:
    resp = flash_redirect("/admin/x", TOKEN, True)
    assert resp.status == 303 and resp.headers["Location"] == "/admin/x"
    assert FLASH not in resp.cookies


@pytest.mark.parametrize("secure", [True, False])
def test_flash_cookie_attributes(secure: bool) -> None:
    resp = flash_redirect("/admin/keys", TOKEN, secure, notice="Key made.")
    assert resp.status == 303 and resp.headers["Location"] == "/admin/keys"
    morsel = resp.cookies[FLASH]
    assert morsel["path"] == "/admin"
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Strict"
    assert str(morsel["max-age"]) == "60"
    assert bool(morsel["secure"]) is secure
    assert "Key made." not in morsel.value  # encoded, not plain


# Flash messages.


def test_flash_round_trip() -> None:
    assert flash_of(flashed(TOKEN, notice="Saved."), TOKEN) == ("Saved.", "")
    assert flash_of(flashed(TOKEN, error="Nope."), TOKEN) == ("", "Nope.")
    assert flash_of(flashed(TOKEN, "both", "at once"), TOKEN) == ("both", "at once")


def test_flash_of_another_session_is_refused() -> None:
    cookie = flashed(TOKEN, notice="Saved.")
    assert flash_of(cookie, OTHER) == ("", "")
    assert flash_of(cookie, None) == ("", "")
    assert flash_of(cookie, "") == ("", "")
    assert flash_of(flashed(OTHER, notice="Saved."), OTHER) == ("Saved.", "")


def test_flash_is_truncated() -> None:
    notice, error = flash_of(flashed(TOKEN, "n" * 1000, "e" * 1000), TOKEN)
    assert (notice, error) == ("n" * 300, "e" * 900)  # bytes of UTF-8


def test_flash_tampered_body_is_refused() -> None:
    cookie = flashed(TOKEN, notice="Saved.")
    body, mac = cookie.rsplit(".", 1)
    forged = base64.urlsafe_b64encode(orjson.dumps(["Pay 0xevil now", ""])).decode()
    assert flash_of(f"{forged}.{mac}", TOKEN) == ("", "")
    flipped = ("B" if body[0] == "A" else "A") + body[1:]
    assert flash_of(f"{flipped}.{mac}", TOKEN) == ("", "")
    assert flash_of(f"{body}x.{mac}", TOKEN) == ("", "")


def test_flash_tampered_mac_is_refused() -> None:
    cookie = flashed(TOKEN, notice="Saved.")
    body, mac = cookie.rsplit(".", 1)
    other = ("0" if mac[0] != "0" else "1") + mac[1:]
    for bad in (other, mac[:-1], mac + "0", mac.upper(), ""):
        assert flash_of(f"{body}.{bad}", TOKEN) == ("", "")


@pytest.mark.parametrize(
    "junk",
    [
        None,
        "",
        ".",
        "..",
        "nodot",
        "a.b",
        "a.b.c",
        "=.=",
        "%%%.%%%",
        "x" * 5000,
        "." * 4001,
        "\x00.",
    ],
)
def test_flash_junk_is_refused(junk: str | None) -> None:
    assert flash_of(junk, TOKEN) == ("", "")


@settings(max_examples=200)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=80))
def test_flash_ascii_junk_never_raises(junk: str) -> None:
    assert flash_of(junk, TOKEN) == ("", "")


def test_flash_non_ascii_junk_is_refused() -> None:
    assert flash_of("e30.\u00e9", TOKEN) == ("", "")


@settings(max_examples=100)
@given(st.text(max_size=300), st.text(max_size=300))
def test_flash_round_trips_any_text(notice: str, error: str) -> None:
    token = new_token()
    resp = flash_redirect("/admin/x", token, True, notice=notice, error=error)

    def cut(text: str, n_bytes: int) -> str:  # the messages are capped in bytes of UTF-8
        return text.encode()[:n_bytes].decode("utf-8", "ignore")

    if notice or error:
        assert flash_of(flash_cookie(resp), token) == (cut(notice, 300), cut(error, 900))
    else:
        assert FLASH not in resp.cookies


def test_flash_round_trips_through_the_cookie_header() -> None:
    """The value is quoted in Set-Cookie (base64 padding); aiohttp reads it back unquoted."""
    notice = 'Monitor "x"; made = ok, ü'
    resp = flash_redirect("/admin/x", TOKEN, True, notice=notice)
    header = resp.cookies[FLASH].OutputString(attrs=[])
    req = make_mocked_request("GET", "/admin/x", headers={"Cookie": header})
    assert flash_of(req.cookies.get(FLASH), TOKEN) == (notice, "")
    assert flash_of(req.cookies.get(FLASH), OTHER) == ("", "")


def test_flash_of_wide_characters_is_cut_in_bytes_and_still_arrives() -> None:
    notice, error = "\U0001f511" * 300, "\U0001f512" * 600
    cookie = flashed(TOKEN, notice, error)
    assert len(cookie) < 4000  # under a browser's limit, and under what flash_of reads
    assert flash_of(cookie, TOKEN) == ("\U0001f511" * 75, "\U0001f512" * 225)
