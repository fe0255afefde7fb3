"""dev.chaintools' calldata (eth-abi, selectors from signatures) against known encodings, and its
helpers against a stub RPC: no anvil needed."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import RpcError
from dev import chaintools as ct

A = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
B = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
B_CHECKSUM = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"

# Published 4-byte selectors (keccak256 of the signature), as the module used to hard-code them.
KNOWN_SELECTORS = {
    ct.ERC20_TRANSFER: "a9059cbb",
    ct.ERC20_TRANSFER_FROM: "23b872dd",
    ct.ERC20_APPROVE: "095ea7b3",
    ct.ERC20_BALANCE_OF: "70a08231",
    ct.TEST_MINT: "40c10f19",
    ct.ERC721_SAFE_TRANSFER_FROM: "42842e0e",
    ct.ERC721_OWNER_OF: "6352211e",
    ct.MULTI_MINT: "156e29f6",
    ct.MULTI_MINT_BATCH: "d81d0a15",
    ct.ERC1155_SAFE_TRANSFER_FROM: "f242432a",
    ct.ERC1155_SAFE_BATCH_TRANSFER_FROM: "2eb2c2d6",
    ct.ERC1155_BALANCE_OF: "00fdd58e",
}


def w(n: int | str) -> str:
    """One 32-byte word, written out by hand: a uint or an address left-padded to 64 digits."""
    return n.removeprefix("0x").rjust(64, "0") if isinstance(n, str) else f"{n:064x}"


@pytest.mark.parametrize(("signature", "expected"), sorted(KNOWN_SELECTORS.items()))
def test_selectors_are_the_published_ones(signature: str, expected: str) -> None:
    assert ct.selector(signature) == expected


def test_every_signature_used_is_a_function_of_a_shipped_contract() -> None:
    shipped = {
        f"{f['name']}({','.join(i['type'] for i in f['inputs'])})"
        for name in ("TestToken", "TestNFT", "TestMulti")
        for f in ct.artifact(name)["abi"]
        if f.get("type") == "function"
    }
    assert set(KNOWN_SELECTORS) <= shipped


def test_arg_types_come_from_the_signature() -> None:
    assert ct.arg_types(ct.MULTI_MINT_BATCH) == ("address", "uint256[]", "uint256[]")
    assert ct.arg_types("totalSupply()") == ()
    for bad in ("transfer", "f(address", "f((address,uint256))"):
        with pytest.raises(ValueError):
            ct.arg_types(bad)


def test_static_calldata() -> None:
    expected = "0xa9059cbb" + w(B) + w(1_500_000)
    assert ct.encode_call(ct.ERC20_TRANSFER, B, 1_500_000) == expected
    assert ct.encode_call(ct.ERC20_TRANSFER, B_CHECKSUM, 1_500_000) == expected  # any case
    assert ct.calldata("a9059cbb", B, 1_500_000) == expected
    assert ct.word(2**256 - 1) == "f" * 64


def test_dynamic_calldata_puts_offsets_in_the_head_and_data_in_the_tail() -> None:
    batch = ct.encode_call(ct.MULTI_MINT_BATCH, A, [7, 8], [100, 200])
    # head: to, offset of ids (3 words in), offset of amounts (3 + 3 words in)
    ids, amounts = w(2) + w(7) + w(8), w(2) + w(100) + w(200)
    assert batch == "0xd81d0a15" + w(A) + w(0x60) + w(0xC0) + ids + amounts
    data = bytes(range(33))  # 33 bytes: two words, right-padded with zeros
    single = ct.encode_call(ct.ERC1155_SAFE_TRANSFER_FROM, A, B, 5, 6, data)
    padded = data.hex() + "00" * 31
    assert single == "0xf242432a" + w(A) + w(B) + w(5) + w(6) + w(0xA0) + w(33) + padded
    assert ct.calldata_abi("f242432a", A, B, 5, 6, data) == single  # types inferred from values
    empty = ct.encode_call(ct.ERC1155_SAFE_BATCH_TRANSFER_FROM, A, B, [1], [2], b"")
    # ids at 5 words, amounts at 5 + 2, data at 7 + 2: a length of 0 and no data words
    tail = w(1) + w(1) + w(1) + w(2) + w(0)
    assert empty == "0x2eb2c2d6" + w(A) + w(B) + w(0xA0) + w(0xE0) + w(0x120) + tail


@pytest.mark.parametrize("args", [(B, -1), (B, 2**256), ("0x1234", 1), (B, "1"), (B,), (B, 1, 2)])
def test_values_that_do_not_fit_raise_value_error(args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        ct.encode_call(ct.ERC20_TRANSFER, *args)


class StubRpc:
    """Records each call; answers eth_call from `calls` and eth_sendTransaction with a hash."""

    def __init__(self, calls: dict[str, str]) -> None:
        self.calls = calls
        self.sent: list[tuple[str, Any]] = []

    def __call__(self, url: str, method: str, *params: Any, timeout: float = 10.0) -> Any:
        self.sent.append((method, params))
        if method == "eth_call":
            return self.calls[params[0]["data"][:10]]
        assert method == "eth_sendTransaction"
        return "0x" + "ab" * 32


def test_helpers_send_and_decode_through_rpc(monkeypatch: pytest.MonkeyPatch) -> None:
    stub = StubRpc(
        {
            "0x70a08231": "0x" + w(123),
            "0x6352211e": "0x" + w(B_CHECKSUM.lower()),
            "0x00fdd58e": "0x" + w(5),
        }
    )
    monkeypatch.setattr(ct, "rpc", stub)
    assert ct.token_balance("u", "0xt", A) == 123
    assert ct.nft_owner("u", "0xn", 9) == B
    assert ct.multi_balance("u", "0xm", A, 1) == 5
    assert stub.sent[1] == ("eth_call", ({"to": "0xn", "data": "0x6352211e" + w(9)}, "latest"))

    ct.nft_transfer("u", "0xn", A, B, 9, safe=True)
    ct.FailingCall("u", "0xt", A, B).send()  # amount: the balance (123) + 1
    sent = [p[0] for m, p in stub.sent if m == "eth_sendTransaction"]
    assert sent[0]["data"] == "0x42842e0e" + w(A) + w(B) + w(9)
    assert sent[1] == {
        "from": A,
        "to": "0xt",
        "data": "0xa9059cbb" + w(B) + w(124),
        "value": "0x0",
        "gas": hex(100_000),
    }


def test_an_empty_call_result_is_an_rpc_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ct, "rpc", StubRpc({"0x70a08231": "0x"}))  # no contract at that address
    with pytest.raises(RpcError):
        ct.token_balance("u", "0xt", A)
