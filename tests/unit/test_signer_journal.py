"""signer.journal: the nonce, replacement and gap rules, daily sums, and the file itself."""

from __future__ import annotations

import json
import logging
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from signer.errors import JournalError
from signer.journal import Decision, Journal, Refused, Signed
from tests.unit.signer_testkit import BOB, CAROL, CHAIN_ID, TREASURY

DAY = "2026-01-01"


def signed(
    nonce: int = 7,
    wid: str = "wdr_1",
    *,
    to: str = BOB,
    value: str = "1000",
    fees: tuple[int, int] = (2000, 1000),
    amount: str = "1000",
    asset: str = "native",
    day: str = DAY,
    sender: str = TREASURY,
    chain_id: int = CHAIN_ID,
) -> Signed:
    return Signed(
        at=day + "T10:00:00Z",
        request_id="sig_" + wid + str(nonce) + str(fees),
        chain="local",
        chain_id=chain_id,
        sender=sender,
        nonce=nonce,
        withdrawal_id=wid,
        to=to,
        value=value,
        data="0x",
        gas=21000,
        max_fee_per_gas=str(fees[0]),
        max_priority_fee_per_gas=str(fees[1]),
        tx_hash="0x" + f"{nonce:064x}",
        raw=f"0x02aa{nonce:04x}{fees[0]:08x}",
        amount=amount,
        asset=asset,
        day=day,
    )


def refused(nonce: int | None, wid: str = "wdr_x", sender: str = TREASURY) -> Refused:
    return Refused(DAY + "T10:00:00Z", "sig_r", CHAIN_ID, sender, nonce, wid, "no")


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal.for_keystore(tmp_path / "signer.keystore")


def test_the_file_sits_next_to_the_keystore_and_is_private(tmp_path: Path) -> None:
    j = Journal.for_keystore(tmp_path / "signer.keystore")
    j.append(signed())
    assert j.path == tmp_path / "signer.keystore.journal"
    assert stat.S_IMODE(j.path.stat().st_mode) == 0o600
    line = json.loads(j.path.read_text().splitlines()[0])
    assert line["kind"] == "signed" and line["nonce"] == 7 and line["amount"] == "1000"


def test_a_new_transaction_is_ok_and_the_same_one_gives_the_same_bytes(journal: Journal) -> None:
    first = signed()
    assert journal.decide(first) == Decision("ok")
    journal.append(first)
    again = replace(first, request_id="sig_other", tx_hash="", raw="")
    assert journal.decide(again) == Decision("same", raw=first.raw)


def test_another_transaction_at_a_signed_nonce_is_refused(journal: Journal) -> None:
    journal.append(signed())
    for other in (
        signed(wid="wdr_2"),
        signed(to=CAROL),
        signed(value="1001"),
        replace(signed(), data="0x00"),
    ):
        d = journal.decide(other)
        assert d.outcome == "refuse"
        assert "nonce 7 of " + TREASURY + " is signed already" in str(d.reason)


def test_a_fee_replacement_of_the_same_withdrawal_is_ok(journal: Journal) -> None:
    journal.append(signed(fees=(2000, 1000)))
    assert journal.decide(signed(fees=(2250, 1125))) == Decision("ok")
    assert journal.decide(signed(fees=(2000, 1125))) == Decision("ok")
    assert journal.decide(replace(signed(), gas=30000)) == Decision("ok")  # same fees, new gas
    assert journal.decide(signed(fees=(1999, 1125))).outcome == "refuse"
    assert journal.decide(signed(fees=(2250, 999))).outcome == "refuse"
    journal.append(signed(fees=(2250, 1125)))
    # both fields at least as high as every earlier signature at the nonce
    assert journal.decide(signed(fees=(2100, 1100))).outcome == "refuse"
    assert journal.decide(signed(fees=(2000, 1000))).outcome == "same"
    assert journal.decide(signed(fees=(2500, 1200))) == Decision("ok")


def test_one_withdrawal_is_never_signed_at_two_nonces(journal: Journal) -> None:
    journal.append(signed(nonce=7))
    d = journal.decide(signed(nonce=8))
    assert d.outcome == "refuse" and "wdr_1 is signed already at nonce 7" in str(d.reason)
    d = journal.decide(signed(nonce=8, chain_id=1))
    assert d.outcome == "refuse"


def test_the_gap_rule(journal: Journal) -> None:
    journal.append(refused(7))
    d = journal.decide(signed(nonce=8, wid="wdr_2"))
    assert d.outcome == "refuse" and "nonce 7 of" in str(d.reason)
    # nonce 7 itself may be signed (another withdrawal), and nonces below
    assert journal.decide(signed(nonce=7, wid="wdr_3")) == Decision("ok")
    assert journal.decide(signed(nonce=6, wid="wdr_4")) == Decision("ok")
    # other senders and chains are not held up
    assert journal.decide(signed(nonce=8, wid="wdr_2", sender=BOB)) == Decision("ok")
    assert journal.decide(signed(nonce=8, wid="wdr_2", chain_id=1)) == Decision("ok")
    journal.append(signed(nonce=7, wid="wdr_3"))
    assert journal.decide(signed(nonce=8, wid="wdr_2")) == Decision("ok")


def test_the_lowest_unsigned_refusal_holds_everything_above(journal: Journal) -> None:
    journal.append(refused(5))
    journal.append(refused(9))
    journal.append(signed(nonce=5, wid="wdr_5"))
    d = journal.decide(signed(nonce=10, wid="wdr_10"))
    assert d.outcome == "refuse" and "nonce 9 of" in str(d.reason)
    assert journal.decide(signed(nonce=9, wid="wdr_9")) == Decision("ok")


def test_a_refusal_without_a_nonce_blocks_nothing(journal: Journal) -> None:
    journal.append(refused(None))
    assert journal.decide(signed(nonce=8)) == Decision("ok")


def test_spent_today_counts_each_withdrawal_once_on_its_first_day(journal: Journal) -> None:
    journal.append(signed(nonce=1, wid="wdr_a", amount="100"))
    journal.append(signed(nonce=1, wid="wdr_a", amount="100", fees=(3000, 1000)))  # replaced
    journal.append(signed(nonce=2, wid="wdr_b", amount="20"))
    journal.append(signed(nonce=3, wid="wdr_c", amount="5", asset="0x" + "ab" * 20))
    journal.append(signed(nonce=4, wid="wdr_d", amount="7", day="2026-01-02"))
    journal.append(signed(nonce=5, wid="wdr_e", amount="9", chain_id=1))
    assert journal.spent_today(CHAIN_ID, "native", DAY) == 120
    assert journal.spent_today(CHAIN_ID, "native", DAY, excluding="wdr_a") == 20
    assert journal.spent_today(CHAIN_ID, "0x" + "ab" * 20, DAY) == 5
    assert journal.spent_today(CHAIN_ID, "native", "2026-01-02") == 7
    assert journal.spent_today(1, "native", DAY) == 9


def test_everything_survives_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "k.journal"
    j = Journal(path)
    j.append(signed(nonce=7))
    j.append(refused(8, wid="wdr_2"))
    j.append(signed(nonce=9, wid="wdr_big", amount="50"))
    j.close()
    j = Journal(path)
    assert j.decide(signed(nonce=7)).outcome == "same"
    assert j.decide(signed(nonce=7, wid="wdr_9")).outcome == "refuse"
    assert j.decide(signed(nonce=8)).outcome == "refuse"  # wdr_1 is at 7 already
    gap = j.decide(signed(nonce=10, wid="wdr_10"))
    assert gap.outcome == "refuse" and "nonce 8" in str(gap.reason)
    assert j.spent_today(CHAIN_ID, "native", DAY) == 1050


def test_a_torn_last_line_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "k.journal"
    j = Journal(path)
    j.append(signed(nonce=7))
    j.close()
    with open(path, "ab") as f:
        f.write(b'{"kind":"signed","nonce":8,"cha')
    with caplog.at_level(logging.WARNING, logger="blockhook.signer"):
        j = Journal(path)
    assert "cut short" in caplog.text
    assert j.decide(signed(nonce=7)).outcome == "same"
    j.append(signed(nonce=8, wid="wdr_2"))  # appended after the cut, on a line of its own
    j.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(x) for x in lines)
    assert Journal(path).decide(signed(nonce=8, wid="wdr_2")).outcome == "same"


@pytest.mark.parametrize(
    "bad",
    [
        b"not json\n",
        b'{"kind":"signed"}\n',
        b'{"kind":"other","at":"x"}\n',
        b"[1]\n",
        b"\n",
    ],
)
def test_a_corrupt_line_stops_with_a_clear_error(tmp_path: Path, bad: bytes) -> None:
    path = tmp_path / "k.journal"
    j = Journal(path)
    j.append(signed(nonce=7))
    j.close()
    good = path.read_bytes()
    path.write_bytes(bad + good)
    with pytest.raises(JournalError, match="line 1 is corrupt"):
        Journal(path)


def test_a_wrongly_typed_field_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "k.journal"
    j = Journal(path)
    j.append(signed(nonce=7))
    j.close()
    doc = json.loads(path.read_text())
    doc["nonce"] = "7"
    path.write_text(json.dumps(doc) + "\n")
    with pytest.raises(JournalError, match="line 1 is corrupt"):
        Journal(path)


def test_two_signers_cannot_share_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "k.journal"
    first = Journal(path)
    with pytest.raises(JournalError, match="in use by another signer"):
        Journal(path)
    first.close()
    Journal(path).close()
