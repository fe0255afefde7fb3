"""CSV exports: RFC 4180 text, with cells that a spreadsheet would run as a formula made
inert (OWASP's advice: a leading quote before = + - @ tab or CR)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import web

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(v: Any) -> str:
    """One value as CSV text: None is empty; a would-be formula gets a leading quote."""
    if v is None:
        return ""
    t = str(v)
    return "'" + t if t.startswith(FORMULA) else t


def csv_text(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(head)
    for r in rows:
        out.writerow([cell(v) for v in r])
    return buf.getvalue()


def csv_response(name: str, head: Sequence[str], rows: Iterable[Sequence[Any]]) -> web.Response:
    return web.Response(
        text=csv_text(head, rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
