"""consolequery: the console's time bounds and its deposit and delivery filters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.timefmt import iso_utc
from streams.consolequery import (
    delivery_matches,
    deposit_matches,
    iso_bound,
    select_deposits,
    time_bound,
)
from streams.ledger import Deposit

TOKEN = "0xDBF03B407C01E7CD3CBEA99509D93F8DDDC8C6FB"
USDC: dict[str, Any] = {"kind": "erc20", "symbol": "USDC", "contract": TOKEN.lower()}
ETH: dict[str, Any] = {"kind": "native", "symbol": "ETH", "contract": None}
DAY = datetime(2026, 11, 21, tzinfo=UTC).timestamp()


def deposit(
    n: int,
    *,
    user_ref: str | None = "cust-1",
    address: str = "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    asset: dict[str, Any] | None = None,
    state: str = "seen",
    first_ms: int | None = None,
    block: int | None = None,
) -> Deposit:
    return Deposit(
        wallet_id="w1",
        user_ref=user_ref,
        address=address,
        asset=asset if asset is not None else ETH,
        amount=1000 * n,
        tx_hash="0x" + f"{n:064x}",
        block_number=block if block is not None else 100 + n,
        first_ms=first_ms if first_ms is not None else int(DAY * 1000) + n * 1000,
        state=state,
    )


def match(d: Deposit, **kw: Any) -> bool:
    args: dict[str, Any] = {"q": "", "asset": "", "state": "", "since": None, "until": None}
    return deposit_matches(d, **{**args, **kw})


# Time bounds.


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2026-11-21", datetime(2026, 11, 21, tzinfo=UTC)),
        ("2026-11-21Z", datetime(2026, 11, 21, tzinfo=UTC)),
        ("2026-11-21T12:00", datetime(2026, 11, 21, 12, 0, tzinfo=UTC)),
        ("2026-11-21T12:00Z", datetime(2026, 11, 21, 12, 0, tzinfo=UTC)),
        ("2026-11-21T12:34:56", datetime(2026, 11, 21, 12, 34, 56, tzinfo=UTC)),
        ("2026-11-21T12:34:56Z", datetime(2026, 11, 21, 12, 34, 56, tzinfo=UTC)),
        ("2026-11-21 12:34", datetime(2026, 11, 21, 12, 34, tzinfo=UTC)),
        ("  2026-11-21T12:00Z  ", datetime(2026, 11, 21, 12, 0, tzinfo=UTC)),
        ("1970-01-01", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_time_bound_formats(text: str, want: datetime) -> None:
    assert time_bound(text) == want.timestamp()


@pytest.mark.parametrize("text", [None, ""])
def test_time_bound_empty(text: str | None) -> None:
    assert time_bound(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2026-13-01",
        "2026-02-30",
        "21/11/2026",
        "2026-11-21T12",
        "2026-11-21T25:00",
        "2026-11-21T12:00:00+02:00",
        "2026-11-21T12:00:00.5Z",
        "1732190400",
        "   ",
    ],
)
def test_time_bound_refuses_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match="is not a date like 2026-11-21 or 2026-11-21T12:00") as e:
        time_bound(text)
    assert repr(text) in str(e.value)


@settings(max_examples=200)
@given(st.integers(min_value=0, max_value=253402300799))
def test_time_bound_reads_iso_bound(ts: int) -> None:
    text = iso_bound(ts)
    assert text is not None and text == iso_utc(ts)
    assert time_bound(text) == ts


def test_iso_bound() -> None:
    assert iso_bound(None) is None
    assert iso_bound(DAY) == "2026-11-21T00:00:00Z"
    assert iso_bound(DAY + 0.9) == "2026-11-21T00:00:00Z"


# Deposits.


def test_no_filter_matches_all() -> None:
    assert match(deposit(1))
    assert match(deposit(1, user_ref=None, state="reverted"))


@pytest.mark.parametrize("q", ["cust-1", "CUST", "ust-", "5aaeb6053f", "0X5AAEB", "BEAED", "0001"])
def test_q_matches_user_ref_address_or_tx_any_case(q: str) -> None:
    assert match(deposit(1), q=q)


def test_q_matches_the_tx_hash() -> None:
    d = deposit(0xABCDEF)
    assert match(d, q="ABCDEF") and match(d, q="abcdef") and match(d, q=d.tx_hash.upper())
    assert not match(deposit(1), q="abcdef")


@pytest.mark.parametrize("q", ["cust-2", "0xfb6916", "zzz", "cust-1 "])
def test_q_refuses(q: str) -> None:
    assert not match(deposit(1), q=q)


def test_q_with_no_user_ref() -> None:
    d = deposit(1, user_ref=None)
    assert not match(d, q="none")
    assert match(d, q="5aaeb")


@pytest.mark.parametrize("asset", ["USDC", "usdc", TOKEN, TOKEN.lower()])
def test_asset_by_symbol_or_contract(asset: str) -> None:
    assert match(deposit(1, asset=USDC), asset=asset)
    assert not match(deposit(1, asset=ETH), asset=asset)


@pytest.mark.parametrize("asset", ["native", "NATIVE", "eth", "ETH"])
def test_asset_native(asset: str) -> None:
    assert match(deposit(1, asset=ETH), asset=asset)
    assert not match(deposit(1, asset=USDC), asset=asset)


def test_asset_refuses_others() -> None:
    assert not match(deposit(1, asset=USDC), asset="DAI")
    assert not match(deposit(1, asset=USDC), asset=TOKEN[:-1])
    assert not match(deposit(1, asset={"kind": "erc20"}), asset="native")


@pytest.mark.parametrize("state", ["seen", "confirmed", "reverted"])
def test_state(state: str) -> None:
    assert match(deposit(1, state=state), state=state)
    others = {"seen", "confirmed", "reverted"} - {state}
    assert not any(match(deposit(1, state=s), state=state) for s in others)


def test_since_and_until_on_first_seen() -> None:
    d = deposit(1, first_ms=int(DAY * 1000) + 5_000)
    t = DAY + 5
    assert match(d, since=t)  # since is inclusive
    assert not match(d, since=t + 0.001)
    assert match(d, until=t + 0.001)
    assert not match(d, until=t)  # until is exclusive
    assert match(d, since=DAY, until=DAY + 86400)
    assert not match(d, since=DAY + 86400)


def test_filters_combine() -> None:
    d = deposit(1, asset=USDC, state="confirmed")
    assert match(d, q="cust", asset="usdc", state="confirmed", since=DAY, until=DAY + 86400)
    assert not match(d, q="cust", asset="usdc", state="seen", since=DAY, until=DAY + 86400)
    assert not match(d, q="nobody", asset="usdc", state="confirmed")
    assert not match(d, q="cust", asset="eth", state="confirmed")


def test_select_deposits_newest_first() -> None:
    ds = [deposit(n, first_ms=int(DAY * 1000) + n * 60_000) for n in (3, 1, 4, 2)]
    got = select_deposits(ds)
    assert [d.first_ms for d in got] == sorted((d.first_ms for d in ds), reverse=True)
    assert select_deposits([]) == []


def test_select_deposits_breaks_ties_by_block() -> None:
    ds = [deposit(n, first_ms=1_000, block=b) for n, b in ((1, 7), (2, 9), (3, 8))]
    assert [d.block_number for d in select_deposits(ds)] == [9, 8, 7]


def test_select_deposits_filters() -> None:
    ds = [
        deposit(1, asset=USDC, state="confirmed", user_ref="alice"),
        deposit(2, asset=ETH, state="confirmed", user_ref="bob"),
        deposit(3, asset=USDC, state="seen", user_ref="alice"),
        deposit(4, asset=USDC, state="confirmed", user_ref="carol"),
    ]
    assert [d.amount for d in select_deposits(ds, asset="USDC", state="confirmed")] == [4000, 1000]
    assert [d.amount for d in select_deposits(ds, q="ALICE")] == [3000, 1000]
    assert [d.amount for d in select_deposits(ds, asset="native")] == [2000]
    since = ds[2].first_ms / 1000
    assert [d.amount for d in select_deposits(ds, since=since)] == [4000, 3000]
    assert [d.amount for d in select_deposits(ds, until=since)] == [2000, 1000]


@settings(max_examples=100)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**13),
            st.integers(0, 10**6),
            st.sampled_from(["seen", "confirmed", "reverted"]),
        ),
        max_size=20,
    ),
    st.sampled_from(["", "seen", "confirmed"]),
)
def test_select_deposits_is_a_sorted_filter(raw: list[tuple[int, int, str]], state: str) -> None:
    ds = [deposit(i, first_ms=ms, block=b, state=s) for i, (ms, b, s) in enumerate(raw)]
    got = select_deposits(ds, state=state)
    assert [id(d) for d in got] == [
        id(d)
        for d in sorted(ds, key=lambda d: (d.first_ms, d.block_number), reverse=True)
        if not state or d.state == state
    ]


# Deliveries.


def rec(*attempts: tuple[str, int | None]) -> dict[str, Any]:
    return {
        "id": "dl_1",
        "attempts": [{"at": at, "status_code": code, "latency_ms": 5} for at, code in attempts],
    }


A1, A2 = "2026-11-21T10:00:00Z", "2026-11-21T11:00:00Z"


def test_delivery_no_filter() -> None:
    assert delivery_matches(rec((A1, 500)), "", None, None)
    assert delivery_matches(rec(), "", None, None)
    assert delivery_matches({}, "", None, None)


def test_delivery_code_of_the_last_attempt() -> None:
    r = rec((A1, 500), (A2, 200))
    assert delivery_matches(r, "200", None, None)
    assert not delivery_matches(r, "500", None, None)
    assert not delivery_matches(r, "error", None, None)
    assert not delivery_matches(r, "20", None, None)


def test_delivery_code_error_means_no_status_code() -> None:
    r = rec((A1, 200), (A2, None))
    assert delivery_matches(r, "error", None, None)
    assert not delivery_matches(r, "200", None, None)
    assert delivery_matches(rec(), "error", None, None)  # never attempted: no status code
    assert not delivery_matches(rec(), "200", None, None)


def test_delivery_since_until_on_the_last_attempt() -> None:
    r = rec((A1, 500), (A2, 200))
    assert delivery_matches(r, "", A2, None)  # since is inclusive
    assert not delivery_matches(r, "", "2026-11-21T11:00:01Z", None)
    assert delivery_matches(r, "", None, "2026-11-21T11:00:01Z")
    assert not delivery_matches(r, "", None, A2)  # until is exclusive
    assert not delivery_matches(r, "", None, "2026-11-21T10:30:00Z")  # only the last counts
    assert delivery_matches(r, "200", "2026-11-21", "2026-11-22")


def test_delivery_without_attempts_has_no_time() -> None:
    assert not delivery_matches(rec(), "", A1, None)
    assert delivery_matches(rec(), "", None, A1)


@settings(max_examples=300)
@given(
    at=st.integers(0, 253402300799),
    since=st.none() | st.integers(0, 253402300799),
    until=st.none() | st.integers(0, 253402300799),
)
def test_delivery_times_compare_as_times(at: int, since: int | None, until: int | None) -> None:
    r = rec((iso_utc(at), 200))
    want = (since is None or since <= at) and (until is None or at < until)
    assert delivery_matches(r, "", iso_bound(since), iso_bound(until)) is want


@settings(max_examples=200)
@given(
    code=st.none() | st.integers(100, 599),
    want=st.sampled_from(["", "error", "200", "404", "500", "503"]),
)
def test_delivery_code_property(code: int | None, want: str) -> None:
    expected = want == "" or (want == "error" and code is None) or want == str(code)
    assert delivery_matches(rec((A1, code)), want, None, None) is expected
