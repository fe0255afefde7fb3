"""signer.signing against the platform's own check of signed bytes (streams.txcheck)."""

from __future__ import annotations

from typing import Any

import pytest

from signer.errors import KeystoreError
from signer.request import parse
from signer.signing import eth_account_tx, sign
from streams.txbuild import to_eth_account_tx
from streams.txcheck import TxCheckError, check_signed, decode_signed
from tests.unit.signer_testkit import (
    ACCOUNT,
    ADDRESS0,
    CAROL,
    PATH0,
    SECRETS,
    TOKEN,
    TREASURY,
    make_request,
)


@pytest.mark.parametrize(
    "req",
    [
        make_request(amount=10**18),
        make_request(amount=2**200, nonce=0),
        make_request(kind="erc20", contract=TOKEN, to=CAROL, amount=123_456_789),
        make_request(path=PATH0, sender=ADDRESS0, nonce=2**40),
    ],
    ids=["native", "big", "erc20", "user-address"],
)
def test_the_platform_accepts_what_the_signer_returns(req: dict[str, Any]) -> None:
    parsed = parse(req)
    assert eth_account_tx(parsed.tx) == to_eth_account_tx(req["tx"])
    out = sign(ACCOUNT, parsed)
    decoded = decode_signed(out.raw)
    check_signed(decoded, req["tx"], req["from"])
    assert decoded.hash == out.hash
    assert out.raw == out.raw.lower() and out.raw.startswith("0x02")
    for secret in SECRETS:
        assert secret not in out.raw


def test_signatures_are_deterministic() -> None:
    req = parse(make_request())
    assert sign(ACCOUNT, req) == sign(ACCOUNT, req)


def test_a_wrong_sender_does_not_pass_the_platforms_check() -> None:
    req = make_request(path=PATH0)  # signed by the key at 0/0, not the treasury
    out = sign(ACCOUNT, parse(req))
    assert decode_signed(out.raw).sender == ADDRESS0
    with pytest.raises(TxCheckError, match="sender"):
        check_signed(decode_signed(out.raw), req["tx"], TREASURY)


def test_a_path_outside_the_two_kinds_is_not_signed() -> None:
    req = make_request()
    req["path"] = "m/44'/60'/0'/1/1"
    with pytest.raises(KeystoreError):
        sign(ACCOUNT, parse(req))
