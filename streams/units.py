"""Amounts for people: integer base units shown with the asset's decimals, never via floats."""

from __future__ import annotations


def format_units(amount: int | str, decimals: int | None, group: bool = False) -> str:
    """`1500000` with 6 decimals is `1.5`; trailing zeros go, a whole number keeps no point.
    Unknown decimals (None) show the base units as they are. `group` puts thin separators
    between thousands of the whole part (`12,345.6`)."""
    n = int(amount)
    sign, n = ("-", -n) if n < 0 else ("", n)
    if not decimals:
        whole, frac = n, ""
    else:
        whole, rest = divmod(n, 10**decimals)
        frac = str(rest).rjust(decimals, "0").rstrip("0")
    w = f"{whole:,}" if group else str(whole)
    return f"{sign}{w}.{frac}" if frac else f"{sign}{w}"


def parse_units(text: str, decimals: int) -> int:
    """`1.5` with 6 decimals is 1500000; more fraction digits than decimals is an error."""
    t = text.strip().replace(",", "").replace("_", "")
    whole, _, frac = t.partition(".")
    if not whole:
        whole = "0"
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"{text!r} is not a decimal amount")
    if len(frac) > decimals:
        raise ValueError(f"at most {decimals} digits after the point")
    scale: int = 10**decimals
    return int(whole) * scale + int(frac.ljust(decimals, "0") or "0")
