"""Signed bytes from the signer are decoded, checked field by field; node answers classified."""

from __future__ import annotations

from typing import Any

import pytest
import rlp  # type: ignore[import-untyped]
from eth_account import Account
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.txbuild import Fees, erc20_transfer_data, to_eth_account_tx, unsigned_tx
from streams.txcheck import (
    SECP256K1_N,
    ReceiptView,
    SignedTx,
    TxCheckError,
    check_signed,
    classify_send_error,
    decode_signed,
    parse_receipt,
)

KEY = "0x" + "46" * 32  # the EIP-155 example key
OTHER_KEY = "0x" + "47" * 32
SENDER = Account.from_key(KEY).address.lower()
BOB = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
CAROL = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
FEES = Fees(2 * 10**9, 10**9)


def native(**change: Any) -> dict[str, Any]:
    tx = unsigned_tx(31337, 7, SENDER, BOB, "native", None, 1000, 21000, FEES)
    return tx | change


def erc20() -> dict[str, Any]:
    return unsigned_tx(1, 3, SENDER, BOB, "erc20", USDC, 10**24, 62_400, FEES)


def sign(tx: dict[str, Any], key: str = KEY) -> str:
    """What a signer answers for `tx`: the eth_account form, signed."""
    signed = Account.sign_transaction(to_eth_account_tx(tx), key)
    return "0x" + bytes(signed.raw_transaction).hex()


def raw_fields(raw: str) -> list[Any]:
    """The RLP items of a type-2 raw transaction (to forge variants of it)."""
    items: list[Any] = list(rlp.decode(bytes.fromhex(raw[4:])))
    return items


def encode(fields: list[Any], prefix: bytes = b"\x02") -> str:
    body: bytes = rlp.encode(fields)
    return "0x" + (prefix + body).hex()


def test_the_sender_address_is_the_known_one() -> None:
    assert SENDER == "0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f"


@pytest.mark.parametrize("tx", [native(), erc20()], ids=["native", "erc20"])
def test_decoding_gives_back_every_field_and_the_sender(tx: dict[str, Any]) -> None:
    raw = sign(tx)
    got = decode_signed(raw)
    signed = Account.sign_transaction(to_eth_account_tx(tx), KEY)
    assert got == SignedTx(
        hash="0x" + bytes(signed.hash).hex(),
        sender=SENDER,
        chain_id=tx["chainId"],
        nonce=tx["nonce"],
        to=tx["to"],
        value=int(tx["value"]),
        data=tx["data"],
        gas=tx["gas"],
        max_fee_per_gas=int(tx["maxFeePerGas"]),
        max_priority_fee_per_gas=int(tx["maxPriorityFeePerGas"]),
        raw=raw,
    )
    assert got.hash == "0x" + keccak(bytes.fromhex(raw[2:])).hex()
    check_signed(got, tx, SENDER)
    check_signed(decode_signed(raw.upper().replace("0X", "0x")), tx, SENDER.upper())


def test_the_erc20_transfer_pays_the_recipient_through_the_contract() -> None:
    got = decode_signed(sign(erc20()))
    assert got.to == USDC and got.value == 0
    assert got.data == erc20_transfer_data(BOB, 10**24)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"to": CAROL}, f"recipient {CAROL} is not {BOB}"),
        ({"value": "1001"}, "value 1001 is not 1000"),
        ({"nonce": 8}, "nonce 8 is not 7"),
        ({"chainId": 1}, "chain id 1 is not 31337"),
        ({"data": "0xdeadbeef"}, "data 0xdeadbeef is not 0x"),
        ({"gas": 30000}, "gas 30000 is not 21000"),
        ({"maxFeePerGas": "3000000000"}, "max fee per gas 3000000000 is not 2000000000"),
        ({"maxPriorityFeePerGas": "2"}, "max priority fee per gas 2 is not 1000000000"),
    ],
)
def test_a_signer_that_signs_something_else_is_caught(change: dict[str, Any], message: str) -> None:
    asked = native()
    got = decode_signed(sign(native(**change)))
    with pytest.raises(TxCheckError) as exc:
        check_signed(got, asked, SENDER)
    assert str(exc.value) == message


def test_a_signature_by_another_key_is_caught() -> None:
    got = decode_signed(sign(native(), OTHER_KEY))
    other = Account.from_key(OTHER_KEY).address.lower()
    with pytest.raises(TxCheckError, match=f"sender {other} is not {SENDER}"):
        check_signed(got, native(), SENDER)


def test_the_first_mismatch_is_reported_in_order() -> None:
    got = decode_signed(sign(native(nonce=9, to=CAROL, gas=1), OTHER_KEY))
    with pytest.raises(TxCheckError, match=r"^sender"):
        check_signed(got, native(), SENDER)
    with pytest.raises(TxCheckError, match=r"^nonce 9"):
        check_signed(got, native(), got.sender)


def test_long_calldata_is_shortened_in_the_message() -> None:
    got = decode_signed(sign(native(data="0x" + "ab" * 500)))
    with pytest.raises(TxCheckError, match=r"^data 0xabab.*\(500 bytes\) is not 0x$") as exc:
        check_signed(got, native(), SENDER)
    assert len(str(exc.value)) < 120


def test_a_malformed_expected_transaction_is_a_check_error() -> None:
    got = decode_signed(sign(native()))
    with pytest.raises(TxCheckError, match="malformed"):
        check_signed(got, {"to": BOB}, SENDER)


def test_legacy_and_other_types_are_refused() -> None:
    legacy = {"chainId": 1, "nonce": 0, "to": Account.from_key(OTHER_KEY).address, "value": 1}
    legacy |= {"gas": 21000, "gasPrice": 10**9, "data": b""}
    raw = "0x" + bytes(Account.sign_transaction(legacy, KEY).raw_transaction).hex()
    with pytest.raises(TxCheckError, match="legacy"):
        decode_signed(raw)
    type1 = to_eth_account_tx(native())
    type1 |= {"type": 1, "gasPrice": 10**9}
    del type1["maxFeePerGas"], type1["maxPriorityFeePerGas"]
    raw1 = "0x" + bytes(Account.sign_transaction(type1, KEY).raw_transaction).hex()
    with pytest.raises(TxCheckError, match="type 1"):
        decode_signed(raw1)
    with pytest.raises(TxCheckError, match="type 3"):
        decode_signed("0x03" + raw[4:])


def test_an_access_list_or_a_contract_creation_is_refused() -> None:
    form = to_eth_account_tx(native())
    form["accessList"] = [{"address": form["to"], "storageKeys": ["0x" + "00" * 32]}]
    raw = "0x" + bytes(Account.sign_transaction(form, KEY).raw_transaction).hex()
    with pytest.raises(TxCheckError, match="access list"):
        decode_signed(raw)
    create = to_eth_account_tx(native())
    del create["to"]
    raw = "0x" + bytes(Account.sign_transaction(create, KEY).raw_transaction).hex()
    with pytest.raises(TxCheckError, match="no recipient"):
        decode_signed(raw)


def test_a_high_s_twin_of_a_valid_signature_is_refused() -> None:
    fields = raw_fields(sign(native()))
    v, s = int.from_bytes(fields[9], "big"), int.from_bytes(fields[11], "big")
    twin = [*fields[:9], 1 - v, fields[10], SECP256K1_N - s]  # recovers the same sender
    with pytest.raises(TxCheckError, match="signature"):
        decode_signed(encode(twin))


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "0x",
        "02f8",
        "0x0",
        "0xzz",
        "0x02",
        "0x02c0",
        "0x" + "02" + "ff" * 40,
        "0x" + "02" * (128 * 1024 + 1),
    ],
)
def test_garbage_is_a_check_error(raw: str) -> None:
    with pytest.raises(TxCheckError):
        decode_signed(raw)


@pytest.mark.parametrize("raw", [None, 7, b"\x02", ["0x02"]])
def test_non_strings_are_a_check_error(raw: Any) -> None:
    with pytest.raises(TxCheckError):
        decode_signed(raw)


def test_trailing_bytes_and_bad_signature_values_are_refused() -> None:
    raw = sign(native())
    with pytest.raises(TxCheckError):
        decode_signed(raw + "00")
    fields = raw_fields(raw)
    v, r, s = fields[9:]
    for bad in ([2, r, s], [v, 0, s], [v, r, 0], [v, SECP256K1_N, s]):
        with pytest.raises(TxCheckError):
            decode_signed(encode([*fields[:9], *bad]))


def _check(raw: str) -> None:
    """Decoding never raises anything but TxCheckError; what decodes is self-consistent."""
    try:
        got = decode_signed(raw)
    except TxCheckError:
        return
    assert got.raw == raw.lower()
    assert got.hash == "0x" + keccak(bytes.fromhex(raw[2:])).hex()
    assert got.sender.startswith("0x") and len(got.sender) == 42


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_never_escape(data: bytes) -> None:
    _check("0x" + data.hex())
    _check("0x02" + data.hex())


VALID = sign(erc20())


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_mutations_of_a_valid_transaction_never_escape(data: st.DataObject) -> None:
    raw = bytearray.fromhex(VALID[2:])
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "drop"]))
        i = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[i] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del raw[i:]
        elif op == "insert":
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=8))
        elif raw:
            del raw[i]
    _check("0x" + raw.hex())


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("already known", "known"),
        ("ALREADY_EXISTS: already known", "known"),
        ("transaction already exists", "known"),
        ("AlreadyKnown", "known"),  # Nethermind (older)
        ("Known transaction", "known"),  # Besu
        ("known transaction: 0x9a3b...", "known"),  # old geth
        ("TRANSACTION_ALREADY_KNOWN", "known"),
        ("transaction already imported", "known"),  # anvil
        ("Tx: [0xabc] already Imported", "known"),  # anvil
        ("[0xabc] Already imported", "known"),  # reth
        ("Transaction with the same hash was already imported.", "known"),  # OpenEthereum
        ("INTERNAL_ERROR: existing tx with same hash", "known"),  # Erigon
        ("existing txn with same hash", "known"),  # Erigon
        ("nonce too low", "nonce_low"),
        ("nonce too low: address 0xabc, tx: 3 state: 5", "nonce_low"),  # geth
        ("Nonce too low", "nonce_low"),  # Besu
        ("NONCE_TOO_LOW", "nonce_low"),
        ("OldNonce, Current nonce: 5, nonce of rejected tx: 3", "nonce_low"),  # Nethermind
        ("Transaction nonce is too low. Try incrementing the nonce.", "nonce_low"),
        ("invalid nonce", "nonce_low"),
        ("OwnNonceAlreadyUsed", "nonce_low"),
        ("replacement transaction underpriced", "underpriced"),
        ("Replacement transaction underpriced", "underpriced"),  # Besu
        ("REPLACEMENT_UNDERPRICED", "underpriced"),
        ("transaction underpriced: tip needed 1, tip permitted 0", "underpriced"),
        ("max fee per gas less than block base fee: address 0xabc", "underpriced"),
        ("fee cap less than block base fee", "underpriced"),
        ("fee too low", "underpriced"),  # Erigon
        ("FeeTooLow, MaxFeePerGas too low", "underpriced"),  # Nethermind
        ("FeeTooLowToCompete", "underpriced"),
        ("underpriced", "underpriced"),  # Erigon
        ("Gas price below current base fee", "underpriced"),  # Besu
        ("Gas price below configured minimum gas price", "underpriced"),  # Besu
        ("Tx: [0xabc] insufficient gas price to replace existing transaction", "underpriced"),
        ("[0xabc] Transaction feeCap 7 below chain minimum.", "underpriced"),  # reth
        ("ReplacementNotAllowed", "underpriced"),  # Nethermind
        ("could not replace existing tx", "underpriced"),  # Erigon
        ("Transaction gas price is too low. There is another transaction", "underpriced"),
        ("insufficient funds for gas * price + value", "funds"),
        ("Insufficient funds for gas * price + value", "funds"),  # anvil
        ("insufficient funds for transfer", "funds"),
        ("InsufficientFunds, Account balance: 0, cumulative cost: 21000", "funds"),
        ("Upfront cost exceeds account balance", "funds"),  # Besu
        ("UPFRONT_COST_EXCEEDS_BALANCE", "funds"),
        ("nonce too high", "other"),
        ("Nonce too high", "other"),
        ("NonceGap", "other"),
        ("Unknown transaction type not supported", "other"),  # not "known transaction"
        ("intrinsic gas too low", "other"),
        ("exceeds block gas limit", "other"),
        ("txpool is full", "other"),
        ("invalid sender", "other"),
        ("tx fee (1.10 ether) exceeds the configured cap (1.00 ether)", "other"),
        ("transaction with the same nonce already exists", "other"),  # not ours
        ("", "other"),
    ],
)
def test_send_errors_are_classified(message: str, kind: str) -> None:
    assert classify_send_error(message) == kind


RECEIPT: dict[str, Any] = {
    "transactionHash": "0x" + "11" * 32,
    "blockHash": "0x" + "AB" * 32,
    "blockNumber": "0x1b4",
    "status": "0x1",
    "gasUsed": "0x5208",
    "effectiveGasPrice": "0x3b9aca07",
    "cumulativeGasUsed": "0x5208",
    "logs": [],
}


def test_a_receipt_is_parsed() -> None:
    got = parse_receipt(RECEIPT)
    assert got == ReceiptView(436, "0x" + "ab" * 32, 1, 21000, 1_000_000_007)
    assert got is not None and got.fee == 21000 * 1_000_000_007
    reverted = parse_receipt(RECEIPT | {"status": "0x0"})
    assert reverted is not None and reverted.status == 0


def test_no_receipt_or_a_pending_one_is_none() -> None:
    assert parse_receipt(None) is None
    assert parse_receipt(RECEIPT | {"blockNumber": None, "blockHash": None}) is None


@pytest.mark.parametrize(
    "receipt",
    [
        [],
        "0x1",
        RECEIPT | {"status": "0x2"},
        RECEIPT | {"status": None},
        {k: v for k, v in RECEIPT.items() if k != "status"},  # pre-Byzantium: a state root
        RECEIPT | {"gasUsed": 21000},
        RECEIPT | {"gasUsed": "0x"},
        RECEIPT | {"gasUsed": "0x5_208"},
        {k: v for k, v in RECEIPT.items() if k != "effectiveGasPrice"},
        RECEIPT | {"blockHash": "0x1234"},
        RECEIPT | {"blockNumber": "436"},
    ],
)
def test_bad_receipts_are_check_errors(receipt: Any) -> None:
    with pytest.raises(TxCheckError):
        parse_receipt(receipt)
