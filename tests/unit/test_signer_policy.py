"""signer.policy: the TOML file, and every reason a request is refused."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from signer import policy as pol
from signer.errors import PolicyError, RequestError
from signer.request import parse
from streams.txbuild import erc20_transfer_data
from tests.unit.signer_testkit import BOB, CAROL, CHAIN_ID, TOKEN, TREASURY, changed, make_request

POLICY = f"""
min_approvals = 2
allowed_destinations = ["{BOB}"]

[assets.native]
max_per_tx = "1000000000000000000"
max_per_day = "5000000000000000000"

[assets."{TOKEN}"]
max_per_tx = "100000000000"
max_per_day = "1000000000000"
allowed_destinations = ["{CAROL}"]
"""
ETH = 10**18


def policy(text: str) -> pol.Policy:
    return pol.parse(tomllib.loads(text))


def check(p: pol.Policy, req: dict[str, Any], spent: int = 0, sender: str = TREASURY) -> Any:
    return pol.check(p, parse(req), sender, spent, CHAIN_ID)


def test_the_documented_policy_parses(tmp_path: Path) -> None:
    f = tmp_path / "policy.toml"
    f.write_text(POLICY)
    p = pol.load(f)
    assert p.min_approvals == 2
    assert p.allowed_destinations == frozenset({BOB})
    assert p.assets is not None
    assert p.assets["native"] == pol.AssetLimits(ETH, 5 * ETH, None)
    assert p.assets[TOKEN].allowed_destinations == frozenset({CAROL})
    with pytest.raises(TypeError):
        p.assets["x"] = pol.AssetLimits()  # type: ignore[index]


def test_an_empty_policy_has_no_limits_but_two_approvals() -> None:
    p = policy("")
    assert p == pol.Policy()
    assert check(p, make_request(amount=10**30)) is None
    assert "2 needed" in check(p, make_request(approvals=("bob",)))


def test_a_checksummed_address_is_taken_in_lower_case() -> None:
    checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    p = policy(f'allowed_destinations = ["{checksummed}"]')
    assert p.allowed_destinations == frozenset({CAROL})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("min_approvals = 1", "never below 2"),
        ("min_approvals = 0", "never below 2"),
        ('min_approvals = "3"', "integer"),
        ("min_approvals = true", "integer"),
        ("max_per_tx = '1'", "unknown keys"),
        ("[assets.native]\nmax_per_tx = 1000", "decimal string"),
        ("[assets.native]\nmax_per_tx = 1.5", "decimal string"),
        ("[assets.native]\nmax_per_day = '-1'", "decimal string"),
        ("[assets.native]\nmax_per_day = '01'", "decimal string"),
        ("[assets.native]\nmax_per_day = '1e18'", "decimal string"),
        ("[assets.native]\nlimit = '1'", "unknown keys"),
        ("[assets.bitcoin]\nmax_per_tx = '1'", "not a 0x address"),
        ("[assets.'0x1234']\nmax_per_tx = '1'", "not a 0x address"),
        ('allowed_destinations = ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"]', "checksum"),
        ('allowed_destinations = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"', "list"),
        ("allowed_destinations = [1]", "not a 0x address"),
        ("assets = 1", "table"),
        ("[assets]\nnative = 1", "table"),
        (
            f'[assets."{TOKEN}"]\nmax_per_tx = "1"\n[assets."{TOKEN.upper().replace("0X", "0x")}"]'
            '\nmax_per_tx = "2"',
            "twice",
        ),
    ],
)
def test_bad_policies_are_refused(text: str, match: str) -> None:
    with pytest.raises(PolicyError, match=match):
        policy(text)


def test_a_bad_or_missing_file_is_said_so(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"missing\.toml"):
        pol.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("min_approvals = = 2")
    with pytest.raises(PolicyError, match=r"bad\.toml"):
        pol.load(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("min_approvals = 1")
    with pytest.raises(PolicyError, match=r"wrong\.toml: min_approvals"):
        pol.load(wrong)


def test_a_request_within_the_policy_passes() -> None:
    p = policy(POLICY)
    assert check(p, make_request(amount=ETH)) is None
    assert check(p, make_request(amount=ETH), spent=4 * ETH) is None
    token = make_request(kind="erc20", contract=TOKEN, to=CAROL, amount=100_000_000_000)
    assert check(p, token, spent=900_000_000_000) is None


def test_chain_id_mismatches_are_refused() -> None:
    p = pol.Policy()
    req = make_request()
    assert pol.check(p, parse(req), TREASURY, 0, 1) == "chain id 31337 is not 1 of chain local"
    assert "not among the platform's chains" in str(pol.check(p, parse(req), TREASURY, 0, None))
    assert "transaction's chain id 1 is not 31337" in check(p, changed(req, chainId=1))
    other = make_request(chain_id=5)
    assert "chain id 5 is not 31337" in check(p, other)
    wrong_chain = make_request()
    wrong_chain["withdrawal"]["chain"] = "mainnet"
    assert "withdrawal is on chain mainnet" in check(p, wrong_chain)


def test_a_sender_that_is_not_the_key_at_the_path_is_refused() -> None:
    p = pol.Policy()
    assert "the sender is not" in check(p, make_request(), sender=BOB)
    req = make_request()
    req["withdrawal"]["from"] = BOB
    assert "the sender is not" in check(p, req)


def test_a_transaction_that_does_not_pay_exactly_the_withdrawal_is_refused() -> None:
    p = pol.Policy()
    native = make_request(amount=1000)
    assert "pays " + CAROL in check(p, changed(native, to=CAROL))
    assert "value 1001 is not the amount 1000" in check(p, changed(native, value="1001"))
    assert "no data" in check(p, changed(native, data="0x00"))
    token = make_request(kind="erc20", contract=TOKEN, amount=5)
    assert check(p, token) is None
    assert "not the token contract" in check(p, changed(token, to=BOB))
    assert "value 1, not 0" in check(p, changed(token, value="1"))
    assert "not transfer(" in check(p, changed(token, data=erc20_transfer_data(CAROL, 5)))
    assert "not transfer(" in check(p, changed(token, data=erc20_transfer_data(BOB, 6)))


def test_too_few_approvals_are_refused() -> None:
    p = pol.Policy()
    assert check(p, make_request(approvals=("bob", "carol"))) is None
    # the requester's own approval and a repeated principal do not count
    assert "1 approvals" in check(p, make_request(approvals=("alice", "bob", "bob")))
    assert "0 approvals" in check(p, make_request(approvals=()))
    # the withdrawal's own requirement and the policy's, whichever is higher
    assert "2 approvals of others than the requester, 3 needed" in check(
        p, make_request(approvals_required=3)
    )
    assert "3 needed" in check(policy("min_approvals = 3"), make_request())
    assert check(policy("min_approvals = 3"), make_request(approvals=("b", "c", "d"))) is None
    # a record claiming fewer than two still needs two
    low = make_request(approvals=("bob",))
    low["withdrawal"]["approvals_required"] = 1
    assert "2 needed" in check(p, low)


@pytest.mark.parametrize("status", ["approved", "broadcast", "pending_approval", "failed"])
def test_a_withdrawal_not_in_signing_is_refused(status: str) -> None:
    assert (
        check(pol.Policy(), make_request(status=status))
        == f"the withdrawal is {status}, not signing"
    )


def test_amount_limits_are_refused() -> None:
    p = policy(POLICY)
    assert "above max_per_tx" in check(p, make_request(amount=ETH + 1))
    assert "above max_per_day" in check(p, make_request(amount=ETH), spent=4 * ETH + 1)
    token = make_request(kind="erc20", contract=TOKEN, to=CAROL, amount=100_000_000_001)
    assert "above max_per_tx 100000000000 of " + TOKEN in check(p, token)


def test_an_asset_not_in_the_table_is_refused() -> None:
    p = policy(POLICY)
    other = "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"
    req = make_request(kind="erc20", contract=other, amount=1)
    assert check(p, req) == f"asset {other} is not in the policy"
    assert check(policy("[assets]"), make_request()) == "asset native is not in the policy"


def test_destination_lists_are_refused() -> None:
    p = policy(POLICY)
    assert check(p, make_request(to=CAROL)) == f"recipient {CAROL} is not in allowed_destinations"
    # the token's list overrides the global one
    token = make_request(kind="erc20", contract=TOKEN, to=BOB, amount=1)
    assert "not in allowed_destinations" in check(p, token)
    assert check(policy("allowed_destinations = []"), make_request()) is not None


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda r: r["tx"].update(type=0), "type 2"),
        (lambda r: r["tx"].update(value=1000), "tx value"),
        (lambda r: r["tx"].update(nonce="7"), "tx nonce"),
        (lambda r: r["tx"].update(gas=True), "tx gas"),
        (lambda r: r["tx"].update(to="0x12"), "tx to"),
        (lambda r: r["tx"].update(data="0x0"), "tx data"),
        (lambda r: r["tx"].update(maxPriorityFeePerGas="3000000000"), "above maxFeePerGas"),
        (lambda r: r.update(tx=None), "tx is not an object"),
        (lambda r: r["withdrawal"].update(amount="1.5"), "withdrawal amount"),
        (lambda r: r["withdrawal"].update(approvals=None), "approvals"),
        (lambda r: r["withdrawal"]["asset"].update(kind="erc721"), "cannot be withdrawn"),
        (lambda r: r["withdrawal"]["asset"].update(contract=TOKEN), "native asset"),
        (lambda r: r.update(chain_id=-1), "chain_id"),
        (lambda r: r["withdrawal"].update(status="signing\nforged log line"), "printable"),
    ],
)
def test_malformed_requests_do_not_parse(edit: Any, match: str) -> None:
    req = make_request()
    edit(req)
    with pytest.raises(RequestError, match=match):
        parse(req)


def test_a_fee_above_max_fee_per_tx_is_refused() -> None:
    """21,000 gas at 2 gwei may pay 42,000 gwei: at the cap it passes, one gwei a gas more
    is refused; a cap that is not a decimal string does not parse."""
    p = policy('max_fee_per_tx = "42000000000000"')
    assert p.max_fee_per_tx == 42 * 10**12
    assert check(p, make_request()) is None
    refused = check(p, make_request(fees=(3_000_000_000, 1_000_000_000)))
    assert "above max_fee_per_tx 42000000000000" in refused
    with pytest.raises(PolicyError, match="max_fee_per_tx"):
        policy("max_fee_per_tx = 5")
