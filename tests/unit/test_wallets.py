"""Pure parts of wallets: the balances fold, session status, EIP-681, records."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas.session import SessionCreate
from schemas.wallet import AddressRequest, check_user_ref, wallet_id_for
from streams.ledger import Ledger, session_status

A = "0x" + "aa" * 20
TOKEN = "0x" + "cc" * 20
NATIVE = {"kind": "native", "contract": None, "symbol": "ETH", "decimals": 18, "token_id": None}
TST = {"kind": "erc20", "contract": TOKEN, "symbol": "TST", "decimals": 6, "token_id": None}


def ev(
    etype: str,
    eid: str,
    amount: int = 10,
    block: str = "0xb1",
    monitor: str = "mon_a",
    asset: dict[str, Any] = NATIVE,
    tx: str = "0xt1",
    user: str | None = "alice",
    direction: str = "in",
) -> dict[str, Any]:
    return {
        "id": eid,
        "type": etype,
        "monitor_id": monitor,
        "chain": "local",
        "tx_hash": tx,
        "log_index": None if asset is NATIVE else 0,
        "block_number": 5,
        "block_hash": block,
        "from": "0x" + "bb" * 20,
        "to": A,
        "direction": direction,
        "asset": asset,
        "amount": str(amount),
        "confirmations": 1,
        "wallet_id": "wal_1",
        "user_ref": user,
    }


def bal(led: Ledger) -> dict[tuple[str | None, str], str]:
    return {(i["user_ref"], i["asset"]["kind"]): i["amount"] for i in led.items("wal_1", None)}


def test_confirmed_minus_reverted_deduplicated_across_monitors() -> None:
    led = Ledger()
    led.apply(ev("transfer.seen", "e1"), 1)
    assert bal(led) == {}
    led.apply(ev("transfer.confirmed", "e2"), 2)
    led.apply(ev("transfer.confirmed", "e2"), 2)  # redelivered
    led.apply(ev("transfer.confirmed", "e3", monitor="mon_b"), 3)  # another monitor
    led.apply(ev("transfer.confirmed", "e4", asset=TST, amount=7), 3)
    led.apply(ev("transfer.confirmed", "e5", tx="0xt2", amount=1, user="bob"), 3)
    led.apply(ev("transfer.seen", "e6", tx="0xt3", amount=99, direction="out"), 3)
    assert bal(led) == {("alice", "native"): "10", ("alice", "erc20"): "7", ("bob", "native"): "1"}
    led.apply(ev("transfer.reverted", "e7"), 4)
    led.apply(ev("transfer.reverted", "e8", monitor="mon_b"), 4)
    assert bal(led)[("alice", "native")] == "0"
    # re-mined in another block: a new transfer, credited again
    led.apply(ev("transfer.confirmed", "e9", block="0xb2"), 5)
    assert bal(led)[("alice", "native")] == "10"
    totals = {t["asset"]["kind"]: t["amount"] for t in led.totals("wal_1")}
    assert totals == {"native": "11", "erc20": "7"}
    assert [i["user_ref"] for i in led.items(None, "bob")] == ["bob"]


def test_what_leaves_counts_once_confirmed_and_comes_back_on_revert() -> None:
    led = Ledger()
    led.apply(ev("transfer.confirmed", "e1", amount=100, user=None), 1)
    out: dict[str, Any] = {"tx": "0xw1", "amount": 30, "user": None, "direction": "out"}
    led.apply(ev("transfer.seen", "o1", **out), 2)
    assert bal(led) == {(None, "native"): "100"}
    assert ("local", "0xw1") not in led.sent_txs
    led.apply(ev("transfer.confirmed", "o2", **out), 3)
    led.apply(ev("transfer.confirmed", "o3", monitor="mon_b", **out), 3)
    assert bal(led) == {(None, "native"): "70"} and ("local", "0xw1") in led.sent_txs
    led.apply(ev("transfer.reverted", "o4", **out), 4)
    assert bal(led) == {(None, "native"): "100"} and ("local", "0xw1") not in led.sent_txs


def test_withdrawal_fees_come_off_the_native_balance_once() -> None:
    led = Ledger()
    led.apply(ev("transfer.confirmed", "e1", amount=100, user=None), 1)
    w = {"id": "wdr_1", "wallet_id": "wal_1", "user_ref": None, "status": "broadcast", "fee": None}
    led.apply_withdrawal(w)
    assert led.balance("wal_1", None, NATIVE) == 100
    mined = {**w, "status": "confirmed", "fee": "21"}
    led.apply_withdrawal(mined)
    led.apply_withdrawal(mined)  # the record again (compacted topic, a restart)
    assert led.balance("wal_1", None, NATIVE) == 79
    led.apply_withdrawal({**w, "fee": None})  # a reorg took it out of its block
    assert led.balance("wal_1", None, NATIVE) == 100
    led.apply_withdrawal({**w, "status": "failed", "fee": "30"})  # mined again, reverted
    assert led.balance("wal_1", None, NATIVE) == 70
    assert [i["user_ref"] for i in led.items("wal_1", None)] == [None]


def session(amount: str | None, created: int = 0, expires: int = 10_000) -> dict[str, Any]:
    return {
        "chain": "local",
        "address": A,
        "asset": NATIVE,
        "amount": amount,
        "created_ms": created,
        "expires_ms": expires,
    }


@pytest.mark.parametrize(
    ("paid", "state", "amount", "now", "want"),
    [
        (None, None, "10", 0, "waiting"),
        (None, None, "10", 20_000, "expired"),
        (10, "seen", "10", 0, "seen"),
        (10, "confirmed", "10", 0, "confirmed"),
        (10, "confirmed", "10", 20_000, "confirmed"),
        (4, "confirmed", "10", 0, "underpaid"),
        (11, "confirmed", "10", 0, "overpaid"),
        (5, "confirmed", None, 0, "confirmed"),
        (5, "seen", None, 0, "seen"),
        (5, "reverted", "10", 0, "waiting"),
    ],
)
def test_session_status(
    paid: int | None, state: str | None, amount: str | None, now: int, want: str
) -> None:
    led = Ledger()
    if paid is not None:
        led.apply(ev("transfer.seen", "s1", amount=paid), 5000)
        if state == "confirmed":
            led.apply(ev("transfer.confirmed", "s2", amount=paid), 5001)
        if state == "reverted":
            led.apply(ev("transfer.reverted", "s3", amount=paid), 5001)
    st = session_status(session(amount), led, now)
    assert st["status"] == want
    if want == "underpaid":
        assert st["remaining"] == "6"


def test_deposits_before_the_session_do_not_count() -> None:
    led = Ledger()
    led.apply(ev("transfer.confirmed", "old"), 1000)
    assert (
        session_status(session("10", created=50_000, expires=99_000), led, 60_000)["status"]
        == "waiting"
    )


def test_records() -> None:
    assert wallet_id_for("local", "xpubA") == wallet_id_for("local", "xpubA")
    assert wallet_id_for("local", "xpubA") != wallet_id_for("second", "xpubA")
    for bad in ("", " x", "x ", "a\tb", "x" * 129):
        with pytest.raises(ValueError):
            check_user_ref(bad)
    with pytest.raises(ValidationError):
        AddressRequest.model_validate({"user_ref": 5})
    s = SessionCreate.model_validate(
        {"wallet_id": "wal_1", "user_ref": "u", "asset": TOKEN.upper().replace("0X", "0x")}
    )
    assert s.asset_spec().contract == TOKEN
    assert (
        SessionCreate.model_validate({"wallet_id": "wal_1", "user_ref": "u"}).asset_spec().kind
        == "native"
    )
    for bad_body in (
        {"asset": "BTC"},
        {"amount": "0"},
        {"amount": "1.5"},
        {"asset": {"kind": "erc20"}},
    ):
        with pytest.raises(ValidationError):
            SessionCreate.model_validate({"wallet_id": "wal_1", "user_ref": "u", **bad_body})


def test_eip681_and_qr() -> None:
    from api.checkout import qr_svg
    from streams.eip681 import eip681

    s = {"chain_id": 1, "address": A, "amount": "5", "asset": NATIVE}
    assert eip681(s) == "ethereum:0xaAaAaAaaAaAaAaaAaAAAAAAAAaaaAaAaAaaAaaAa@1?value=5"
    t = {**s, "asset": TST}
    assert eip681(t) == (
        "ethereum:0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC@1/transfer"
        "?address=0xaAaAaAaaAaAaAaaAaAAAAAAAAaaaAaAaAaaAaaAa&uint256=5"
    )
    svg = qr_svg(eip681(s))
    assert svg.startswith("<svg") and 'width="' in svg and "viewBox" in svg
