"""Reading posted forms and answering them: capped text fields, lists, redirects."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
from aiohttp import web
from multidict import MultiDictProxy


def field(form: MultiDictProxy[Any], name: str, max_len: int) -> str:
    """A text field, stripped; empty when absent, not text, or longer than max_len (a form
    never holds more than its inputs allow, so longer is hostile)."""
    v = form.get(name)
    if not isinstance(v, str) or len(v) > max_len:
        return ""
    return v.strip()


def fields(form: MultiDictProxy[Any], name: str, max_len: int, max_n: int = 1000) -> list[str]:
    """Every value of a repeated field (checkboxes), capped like `field`."""
    out = [v.strip() for v in form.getall(name, []) if isinstance(v, str) and len(v) <= max_len]
    return out[:max_n]


def see_other(url: str) -> web.Response:
    """303 to a page of the console (after a form post)."""
    return web.Response(status=303, headers={"Location": url})


FLASH = "bh_console_flash"


def _flash_mac(token: str, body: str) -> str:
    return hmac.new(token.encode(), b"flash:" + body.encode(), hashlib.sha256).hexdigest()[:32]


def flash_redirect(
    url: str, token: str, secure: bool, notice: str = "", error: str = ""
) -> web.Response:
    """303 to url with a one-time message for the next page, in a cookie bound to the
    session (a link cannot forge it, as it could a message in the query)."""
    resp = see_other(url)
    if notice or error:
        body = base64.urlsafe_b64encode(orjson.dumps([_cap(notice, 300), _cap(error, 900)]))
        body_text = body.decode()
        resp.set_cookie(
            FLASH,
            f"{body_text}.{_flash_mac(token, body_text)}",
            path="/admin",
            httponly=True,
            samesite="Strict",
            secure=secure,
            max_age=60,
        )
    return resp


def _cap(text: str, n_bytes: int) -> str:
    """At most n_bytes of UTF-8 (a cookie's size is in bytes), cut at a character."""
    return text.encode()[:n_bytes].decode("utf-8", "ignore")


def flash_of(cookie: str | None, token: str | None) -> tuple[str, str]:
    """The (notice, error) of a flash cookie made for this session, or empty strings."""
    if not cookie or not token or "." not in cookie or len(cookie) > 4000:
        return "", ""
    body, mac = cookie.rsplit(".", 1)
    if not hmac.compare_digest(mac.encode("utf-8", "replace"), _flash_mac(token, body).encode()):
        return "", ""
    try:
        notice, error = orjson.loads(base64.urlsafe_b64decode(body))
    except (ValueError, orjson.JSONDecodeError):
        return "", ""
    return str(notice), str(error)
