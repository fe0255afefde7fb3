"""The console's searches: pure filters over what the views hold."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from streams.ledger import Deposit


def time_bound(text: str | None) -> float | None:
    """A filter's time (`2026-11-21`, `2026-11-21T12:00`, with or without Z) as unix seconds,
    or None when empty. ValueError for anything else."""
    if not text:
        return None
    t = text.strip().removesuffix("Z")
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(t, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date like 2026-11-21 or 2026-11-21T12:00")


def deposit_matches(
    d: Deposit,
    q: str,
    asset: str,
    state: str,
    since: float | None,
    until: float | None,
) -> bool:
    """Whether a deposit passes the filters: `q` is part of its user_ref, address or tx hash
    (any case); `asset` its symbol or token contract; times on when it was first seen."""
    if state and d.state != state:
        return False
    if asset:
        a = asset.lower()
        sym = str(d.asset.get("symbol") or "").lower()
        contract = str(d.asset.get("contract") or "").lower()
        if a not in (sym, contract) and not (a == "native" and d.asset.get("kind") == "native"):
            return False
    if q:
        needle = q.lower()
        hay = (str(d.user_ref or "").lower(), d.address.lower(), d.tx_hash.lower())
        if not any(needle in h for h in hay):
            return False
    at = d.first_ms / 1000
    if since is not None and at < since:
        return False
    return until is None or at < until


def select_deposits(
    deposits: Iterable[Deposit],
    q: str = "",
    asset: str = "",
    state: str = "",
    since: float | None = None,
    until: float | None = None,
) -> list[Deposit]:
    """Matching deposits, newest first."""
    out = [d for d in deposits if deposit_matches(d, q, asset, state, since, until)]
    out.sort(key=lambda d: (d.first_ms, d.block_number), reverse=True)
    return out


def delivery_matches(
    rec: dict[str, Any],
    code: str,
    since: str | None,
    until: str | None,
) -> bool:
    """A delivery's last attempt answered `code` (a status code, or `error` for none) and
    happened within [since, until) (RFC 3339 text, which sorts as time does)."""
    attempts = rec.get("attempts") or []
    last = attempts[-1] if attempts else {}
    if code:
        got = last.get("status_code")
        if code == "error":
            if got is not None:
                return False
        elif str(got) != code:
            return False
    at = str(last.get("at") or "")
    if since and at < since:
        return False
    return not (until and at >= until)


def iso_bound(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
