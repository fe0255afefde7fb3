"""The unsigned withdrawal transaction: ERC20 calldata, EIP-1559 fees, gas, the signer's form."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode
from hypothesis import given
from hypothesis import strategies as st

from streams.txbuild import (
    MAX_GAS,
    FeeError,
    Fees,
    bump,
    erc20_transfer_data,
    fee_plan,
    gas_limit,
    to_eth_account_tx,
    unsigned_tx,
)

ALICE = "0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f"
BOB = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
BOB_CHECKSUM = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
GWEI = 10**9
FEES = Fees(2 * GWEI, GWEI)

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
amounts = st.integers(min_value=0, max_value=2**256 - 1)

# eth_feeHistory("0xa", "latest", [50]) as a mainnet node answers it: 11 base fees (the last
# is the next block's), one 50th-percentile reward per block.
HISTORY: dict[str, Any] = {
    "oldestBlock": "0x13a6b2c",
    "baseFeePerGas": [
        "0x4a817c800",
        "0x4bc0f33a2",
        "0x49e3c1b1d",
        "0x4876f44ab",
        "0x4a1c2ad60",
        "0x4c2f2f1b1",
        "0x4b0b4a7f2",
        "0x49d7ac1a3",
        "0x4b54dd0e4",
        "0x4d2e5aa10",
        "0x4e3b9aca0",
    ],
    "gasUsedRatio": [0.52, 0.41, 0.45, 0.6, 0.63, 0.46, 0.44, 0.58, 0.62, 0.55],
    "reward": [
        ["0x5f5e100"],
        ["0x3b9aca00"],
        ["0x77359400"],
        ["0x5f5e100"],
        ["0x3b9aca00"],
        ["0x0"],
        ["0x3b9aca00"],
        ["0x59682f00"],
        ["0x3b9aca00"],
        ["0x2faf080"],
    ],
}
NEXT_BASE = int("0x4e3b9aca0", 16)


@given(addresses, amounts)
def test_transfer_data_is_the_abi_encoding(to: str, amount: int) -> None:
    expected = "0xa9059cbb" + encode(["address", "uint256"], [to, amount]).hex()
    assert erc20_transfer_data(to, amount) == expected


def test_transfer_data_is_lower_case_from_a_checksummed_address() -> None:
    data = erc20_transfer_data(BOB_CHECKSUM, 1000)
    assert data == data.lower() and len(data) == 2 + 8 + 128
    assert data.endswith(format(1000, "064x")) and BOB[2:] in data


@pytest.mark.parametrize(
    ("to", "amount"),
    [
        ("0x1234", 1),
        (BOB[2:], 1),
        ("0x" + "g" * 40, 1),
        ("0X" + BOB[2:], 1),
        ("0x70997970C51812dc3A010C7d01b50e0d17dc79c8", 1),  # one letter off the checksum
        (None, 1),
        (BOB, -1),
        (BOB, 2**256),
        (BOB, True),
        (BOB, 1.5),
    ],
)
def test_transfer_data_rejects_bad_input(to: Any, amount: Any) -> None:
    with pytest.raises(ValueError):
        erc20_transfer_data(to, amount)


def test_fee_plan_takes_the_nodes_hint_and_twice_the_next_base_fee() -> None:
    fees = fee_plan(GWEI, HISTORY, None, 0)
    assert fees == Fees(2 * NEXT_BASE + GWEI, GWEI)


def test_fee_plan_without_a_hint_uses_the_median_reward() -> None:
    # rewards sorted (gwei): 0, 0.05, 0.1, 0.1, 1, 1, 1, 1, 1.5, 2: the middle two are 1
    fees = fee_plan(None, HISTORY, None, 0)
    assert fees.max_priority_fee_per_gas == GWEI
    assert fees.max_fee_per_gas == 2 * NEXT_BASE + GWEI


def test_fee_plan_median_of_an_even_count_rounds_down() -> None:
    history = {"baseFeePerGas": ["0x1", "0x1", "0x1"], "reward": [["0x1"], ["0x4"]]}
    assert fee_plan(None, history, None, 0) == Fees(2 + 2, 2)


def test_fee_plan_zero_hint_is_taken_as_given_and_the_minimum_applies() -> None:
    assert fee_plan(0, HISTORY, None, 0).max_priority_fee_per_gas == 0
    assert fee_plan(0, HISTORY, None, 3 * GWEI).max_priority_fee_per_gas == 3 * GWEI
    assert fee_plan(-5, HISTORY, None, 0).max_priority_fee_per_gas == 0


def test_fee_plan_of_a_dev_chain_without_rewards() -> None:
    history = {"baseFeePerGas": ["0x3b9aca00", "0x342770c0"], "gasUsedRatio": [0.0], "reward": []}
    assert fee_plan(None, history, None, 0) == Fees(2 * 0x342770C0, 0)
    assert fee_plan(None, {"baseFeePerGas": ["0x7"]}, None, 1) == Fees(15, 1)


def test_fee_plan_is_capped() -> None:
    cap = 40 * GWEI
    fees = fee_plan(2 * GWEI, HISTORY, cap, 0)
    assert fees == Fees(cap, 2 * GWEI)  # 2 * 21 gwei + 2 gwei is over 40 gwei
    tight = fee_plan(10 * GWEI, {"baseFeePerGas": ["0x0", hex(5 * GWEI)]}, 6 * GWEI, 0)
    assert tight == Fees(6 * GWEI, 6 * GWEI)  # the tip cannot exceed the max fee


def test_fee_plan_refuses_a_base_fee_above_the_cap() -> None:
    with pytest.raises(FeeError, match=f"base fee {NEXT_BASE} wei is above the cap {20 * GWEI}"):
        fee_plan(GWEI, HISTORY, 20 * GWEI, 0)
    assert fee_plan(0, HISTORY, NEXT_BASE, 0) == Fees(NEXT_BASE, 0)  # equal is fine


@pytest.mark.parametrize(
    "history",
    [
        None,
        [],
        {},
        {"baseFeePerGas": []},
        {"baseFeePerGas": "0x1"},
        {"baseFeePerGas": ["0x1", 7]},
        {"baseFeePerGas": ["0x1", "0x1_0"]},
        {"baseFeePerGas": ["0x1", "12"]},
        {"baseFeePerGas": ["0x1"], "reward": "0x1"},
        {"baseFeePerGas": ["0x1"], "reward": ["0x1"]},
        {"baseFeePerGas": ["0x1"], "reward": [["zz"]]},
    ],
)
def test_fee_plan_refuses_an_unusable_history(history: Any) -> None:
    with pytest.raises(FeeError):
        fee_plan(None, history, None, 0)


@given(
    st.one_of(st.none(), st.integers(0, 10**12)),
    st.integers(0, 10**13),
    st.lists(st.integers(0, 10**12), max_size=12),
    st.one_of(st.none(), st.integers(1, 10**14)),
    st.integers(0, 10**10),
)
def test_fee_plan_invariants(
    hint: int | None, base: int, rewards: list[int], cap: int | None, floor: int
) -> None:
    history = {"baseFeePerGas": ["0x0", hex(base)], "reward": [[hex(r)] for r in rewards]}
    if cap is not None and base > cap:
        with pytest.raises(FeeError):
            fee_plan(hint, history, cap, floor)
        return
    fees = fee_plan(hint, history, cap, floor)
    assert 0 <= fees.max_priority_fee_per_gas <= fees.max_fee_per_gas
    assert fees.max_fee_per_gas >= base
    if cap is not None:
        assert fees.max_fee_per_gas <= cap
    else:
        assert fees.max_priority_fee_per_gas >= floor


def test_bump_raises_both_by_an_eighth_rounded_up() -> None:
    assert bump(Fees(2 * GWEI, GWEI)) == Fees(2_250_000_000, 1_125_000_000)
    assert bump(Fees(9, 1)) == Fees(11, 2)
    assert bump(Fees(0, 0)) == Fees(1, 1)


@given(st.integers(0, 10**15), st.integers(0, 10**15))
def test_bump_is_enough_for_a_replacement(max_fee: int, tip: int) -> None:
    new = bump(Fees(max_fee, tip))
    for old, raised in ((max_fee, new.max_fee_per_gas), (tip, new.max_priority_fee_per_gas)):
        assert raised > old and raised * 10 >= old * 11  # geth: at least 10% on both


def test_unsigned_native_transfer_is_the_documented_object() -> None:
    tx = unsigned_tx(31337, 7, ALICE, BOB_CHECKSUM, "native", None, 1000, 21000, FEES)
    assert tx == {
        "type": 2,
        "chainId": 31337,
        "nonce": 7,
        "to": BOB,
        "value": "1000",
        "data": "0x",
        "gas": 21000,
        "maxFeePerGas": "2000000000",
        "maxPriorityFeePerGas": "1000000000",
    }
    assert list(tx) == [  # the documented order
        "type",
        "chainId",
        "nonce",
        "to",
        "value",
        "data",
        "gas",
        "maxFeePerGas",
        "maxPriorityFeePerGas",
    ]


def test_unsigned_erc20_transfer_calls_the_contract() -> None:
    big = 10**30  # beyond 2^53: a string, never a float
    tx = unsigned_tx(1, 0, ALICE, BOB, "erc20", USDC.upper().replace("0X", "0x"), big, 0, FEES)
    assert tx["to"] == USDC and tx["value"] == "0"
    assert tx["data"] == erc20_transfer_data(BOB, big) and tx["gas"] == 0


@pytest.mark.parametrize(
    "change",
    [
        {"to": "0x12"},
        {"sender": "nope"},
        {"amount": -1},
        {"amount": 2**256},
        {"asset_kind": "erc721"},
        {"asset_kind": "erc20", "contract": None},
        {"asset_kind": "erc20", "contract": "0xdead"},
        {"nonce": -1},
        {"chain_id": "1"},
        {"gas": -21000},
        {"fees": Fees(GWEI, 2 * GWEI)},
        {"fees": Fees(-1, 0)},
    ],
)
def test_unsigned_tx_rejects_bad_input(change: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "chain_id": 1,
        "nonce": 0,
        "sender": ALICE,
        "to": BOB,
        "asset_kind": "native",
        "contract": None,
        "amount": 1,
        "gas": 21000,
        "fees": FEES,
    }
    with pytest.raises(ValueError):
        unsigned_tx(**(args | change))


def test_gas_limit() -> None:
    assert gas_limit(21000, "native") == 21000
    assert gas_limit(52_000, "erc20") == 62_400
    assert gas_limit(29_000_000, "erc20") == MAX_GAS
    for bad in ((0, "native"), (-1, "erc20"), (21000, "nft")):
        with pytest.raises(ValueError):
            gas_limit(*bad)


def test_eth_account_form() -> None:
    tx = unsigned_tx(31337, 7, ALICE, BOB, "erc20", USDC, 5, 60_000, FEES)
    form = to_eth_account_tx(tx)
    assert form == {
        "type": 2,
        "chainId": 31337,
        "nonce": 7,
        "to": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
        "value": 0,
        "data": tx["data"],
        "gas": 60_000,
        "maxFeePerGas": 2 * GWEI,
        "maxPriorityFeePerGas": GWEI,
        "accessList": [],
    }
