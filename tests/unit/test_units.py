"""units: integer base units shown and read with an asset's decimals, never via floats."""

from __future__ import annotations

import decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.units import format_units, parse_units

AMOUNTS = st.integers(min_value=0, max_value=2**256)
DECIMALS = st.integers(min_value=0, max_value=36)


@pytest.mark.parametrize(
    ("amount", "decimals", "want"),
    [
        (1_500_000, 6, "1.5"),
        (1_000_000, 6, "1"),
        (1_234_567, 6, "1.234567"),
        (1, 6, "0.000001"),
        (1, 18, "0.000000000000000001"),
        (0, 18, "0"),
        (10**18, 18, "1"),
        (123_450, 2, "1234.5"),
        (100, 2, "1"),
        (
            2**256 - 1,
            18,
            "115792089237316195423570985008687907853269984665640564039457.584007913129639935",
        ),
        ("1500000", 6, "1.5"),
        ("0", 6, "0"),
    ],
)
def test_format_units(amount: int | str, decimals: int, want: str) -> None:
    assert format_units(amount, decimals) == want


@pytest.mark.parametrize(
    ("amount", "decimals", "want"),
    [
        (-1_500_000, 6, "-1.5"),
        (-1, 2, "-0.01"),
        (-100, 2, "-1"),
        (-7, None, "-7"),
        (-7, 0, "-7"),
        ("-250", 2, "-2.5"),
    ],
)
def test_format_negative(amount: int | str, decimals: int | None, want: str) -> None:
    assert format_units(amount, decimals) == want


@pytest.mark.parametrize("decimals", [None, 0])
def test_no_decimals_shows_the_base_units(decimals: int | None) -> None:
    assert format_units(1_500_000, decimals) == "1500000"
    assert format_units(0, decimals) == "0"
    assert format_units(10**40, decimals) == "1" + "0" * 40


@pytest.mark.parametrize(
    ("amount", "decimals", "want"),
    [
        (1_234_567_891, 3, "1,234,567.891"),
        (123, 0, "123"),
        (1_000, 0, "1,000"),
        (1_000_000_000_000, None, "1,000,000,000,000"),
        (-1_234_567, 0, "-1,234,567"),
        (-123_456_789, 3, "-123,456.789"),
        (12_345_6, 1, "12,345.6"),
        (1_000_000_000, 9, "1"),
        (1_000_000_001, 6, "1,000.000001"),
    ],
)
def test_format_grouped(amount: int, decimals: int | None, want: str) -> None:
    assert format_units(amount, decimals, group=True) == want


def test_grouping_never_touches_the_fraction() -> None:
    assert format_units(1_123_456_789, 9, group=True) == "1.123456789"
    assert format_units(123_456_789_012, 9, group=True) == "123.456789012"


def test_format_rejects_what_is_not_an_integer() -> None:
    with pytest.raises(ValueError):
        format_units("1.5", 6)


@pytest.mark.parametrize(
    ("text", "decimals", "want"),
    [
        ("1.5", 6, 1_500_000),
        ("1", 6, 1_000_000),
        ("0", 6, 0),
        ("0.000001", 6, 1),
        (".5", 6, 500_000),
        ("1.", 6, 1_000_000),
        ("1.500000", 6, 1_500_000),
        ("007.25", 2, 725),
        (" 2.50 ", 2, 250),
        ("1,234.5", 2, 123_450),
        ("1_000", 0, 1_000),
        ("42", 0, 42),
        ("1" + "0" * 60, 18, 10**78),
    ],
)
def test_parse_units(text: str, decimals: int, want: int) -> None:
    assert parse_units(text, decimals) == want


@pytest.mark.parametrize(
    ("text", "decimals", "message"),
    [
        ("1.2345", 2, "at most 2 digits after the point"),
        ("1.5", 0, "at most 0 digits after the point"),
        ("0.0000001", 6, "at most 6 digits after the point"),
        ("abc", 2, "'abc' is not a decimal amount"),
        ("1.2.3", 2, "is not a decimal amount"),
        ("-1", 2, "is not a decimal amount"),  # an amount entered is never negative
        ("+1", 2, "is not a decimal amount"),
        ("1e5", 2, "is not a decimal amount"),
        ("1.5e2", 2, "is not a decimal amount"),
        ("0x10", 2, "is not a decimal amount"),
        ("1 000", 2, "is not a decimal amount"),
        ("1.-5", 2, "is not a decimal amount"),
        ("NaN", 2, "is not a decimal amount"),
    ],
)
def test_parse_refuses(text: str, decimals: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_units(text, decimals)


@settings(max_examples=300)
@given(AMOUNTS, DECIMALS, st.booleans())
def test_round_trip(amount: int, decimals: int, group: bool) -> None:
    assert parse_units(format_units(amount, decimals, group), decimals) == amount


@settings(max_examples=300)
@given(st.integers(min_value=-(2**256), max_value=2**256), DECIMALS)
def test_format_agrees_with_decimal(amount: int, decimals: int) -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 200
        want = format(decimal.Decimal(amount).scaleb(-decimals).normalize(), "f")
    assert format_units(amount, decimals) == want


@settings(max_examples=300)
@given(st.integers(min_value=-(2**256), max_value=2**256), DECIMALS)
def test_grouping_only_adds_commas(amount: int, decimals: int) -> None:
    plain, grouped = format_units(amount, decimals), format_units(amount, decimals, group=True)
    assert grouped.replace(",", "") == plain
    whole = grouped.lstrip("-").partition(".")[0]
    assert all(len(g) == 3 for g in whole.split(",")[1:])
    assert 1 <= len(whole.split(",")[0]) <= 3


@settings(max_examples=200)
@given(AMOUNTS, DECIMALS)
def test_format_shape(amount: int, decimals: int) -> None:
    text = format_units(amount, decimals)
    whole, point, frac = text.partition(".")
    assert whole.isdigit() and whole.isascii()
    assert whole == "0" or not whole.startswith("0")
    if point:
        assert frac and frac.isdigit() and not frac.endswith("0") and len(frac) <= decimals
