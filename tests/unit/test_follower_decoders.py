"""chain.follower: ABI decoding of token symbol() and decimals() answers."""

from __future__ import annotations

from typing import Any

import pytest

from streams.abiwords import decode_abi_string, decode_uint8


def abi_string(s: bytes) -> str:
    padded = s + b"\0" * (-len(s) % 32)
    return "0x" + (32).to_bytes(32, "big").hex() + len(s).to_bytes(32, "big").hex() + padded.hex()


@pytest.mark.parametrize("s", [b"USDC", b"WETH", b"", "Ünï".encode(), b"A" * 64])
def test_abi_string(s: bytes) -> None:
    assert decode_abi_string(abi_string(s)) == s.decode()


def test_bytes32_symbol() -> None:
    assert decode_abi_string("0x" + b"MKR".ljust(32, b"\0").hex()) == "MKR"


@pytest.mark.parametrize(
    "result",
    [
        None,
        5,
        "",
        "0x",
        "MKR",
        "0xzz",
        "0x" + "00" * 40,  # neither 32 bytes nor a full ABI string
        abi_string(b"A" * 65),  # longer than a symbol may be
        "0x" + (10**6).to_bytes(32, "big").hex() + (3).to_bytes(32, "big").hex(),  # bad offset
        "0x" + (32).to_bytes(32, "big").hex() + (40).to_bytes(32, "big").hex() + "41" * 32,
        abi_string(b"\xff\xfe"),  # not UTF-8
        abi_string(b"a\nb"),  # not printable
    ],
)
def test_abi_string_rejects(result: Any) -> None:
    assert decode_abi_string(result) is None


@pytest.mark.parametrize(("n", "expected"), [(0, 0), (6, 6), (18, 18), (255, 255), (256, None)])
def test_uint8(n: int, expected: int | None) -> None:
    assert decode_uint8("0x" + n.to_bytes(32, "big").hex()) == expected


@pytest.mark.parametrize("result", [None, 6, "0x06", "0x" + "0" * 63, "0x" + "g" * 64, "0x"])
def test_uint8_rejects(result: Any) -> None:
    assert decode_uint8(result) is None
