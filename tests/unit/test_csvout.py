"""csvout: RFC 4180 exports with would-be spreadsheet formulas made inert."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.csvout import FORMULA, cell, csv_response, csv_text


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_cells_get_a_leading_quote(lead: str) -> None:
    for rest in ("", "1+1", "SUM(A1:A9)", "cmd|' /C calc'!A0"):
        assert cell(lead + rest) == "'" + lead + rest


def test_the_formula_starts_are_owasps() -> None:
    assert set(FORMULA) == {"=", "+", "-", "@", "\t", "\r"}


@pytest.mark.parametrize(
    "text", ["", "plain", "a=b", "1-2", " =1", "'=1", "\n=1", "0x5aaeb60", "Grüße", "🔑"]
)
def test_other_cells_are_kept(text: str) -> None:
    assert cell(text) == text


@pytest.mark.parametrize(
    ("v", "want"),
    [
        (None, ""),
        (0, "0"),
        (42, "42"),
        (-5, "'-5"),
        (1.5, "1.5"),
        (True, "True"),
        (10**30, str(10**30)),
    ],
)
def test_cell_of_values(v: Any, want: str) -> None:
    assert cell(v) == want


def test_csv_text() -> None:
    text = csv_text(["id", "amount", "note"], [["d1", 5, None], ["d2", -3, "=HYPERLINK()"]])
    assert text == "id,amount,note\r\nd1,5,\r\nd2,'-3,'=HYPERLINK()\r\n"


def test_crlf_line_endings() -> None:
    text = csv_text(["a", "b"], [["1", "2"], ["3", "4"]])
    assert text.endswith("\r\n")
    assert text.count("\r\n") == 3
    assert "\n" not in text.replace("\r\n", "")


def test_quoting() -> None:
    text = csv_text(["h"], [['say "hi", bob'], ["two\r\nlines"], ["x\ny"]])
    assert text == 'h\r\n"say ""hi"", bob"\r\n"two\r\nlines"\r\n"x\ny"\r\n'
    assert read(text) == [["h"], ['say "hi", bob'], ["two\r\nlines"], ["x\ny"]]


def test_header_only() -> None:
    assert csv_text(["a", "b"], []) == "a,b\r\n"


def test_rows_can_be_a_generator() -> None:
    text = csv_text(["n"], ([i] for i in range(3)))
    assert read(text) == [["n"], ["0"], ["1"], ["2"]]


CELLS = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=20),
    st.text(alphabet="=+-@\t\r\n,\"' a1", max_size=8),
)


@settings(max_examples=200)
@given(st.lists(st.lists(CELLS, min_size=1, max_size=6), max_size=8))
def test_parses_back_to_the_same_cells(rows: list[list[Any]]) -> None:
    head = ["c"]
    text = csv_text(head, rows)
    assert read(text) == [head, *([cell(v) for v in r] for r in rows)]


@settings(max_examples=200)
@given(st.lists(CELLS, min_size=1, max_size=6))
def test_no_parsed_cell_starts_a_formula(row: Sequence[Any]) -> None:
    (_, got) = read(csv_text(["c"], [row]))
    for v, c in zip(row, got, strict=True):
        plain = "" if v is None else str(v)
        assert not c.startswith(FORMULA)
        assert c == ("'" + plain if plain.startswith(FORMULA) else plain)


def test_csv_response() -> None:
    resp = csv_response("deposits.csv", ["id"], [["=1"]])
    assert resp.status == 200
    assert resp.content_type == "text/csv" and resp.charset == "utf-8"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="deposits.csv"'
    assert resp.text == "id\r\n'=1\r\n"
