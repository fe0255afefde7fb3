"""ABI answers of a token's symbol() and decimals() eth_calls, decoded with one set of limits."""

from __future__ import annotations

from streams.records import TokenMeta

SYMBOL_CALL = "0x95d89b41"  # symbol()
DECIMALS_CALL = "0x313ce567"  # decimals()
MAX_SYMBOL_BYTES = 64


def token_meta_calls(contract: str) -> list[tuple[str, list[object]]]:
    """The two JSON-RPC calls that ask a token its symbol and decimals (in that order)."""
    return [
        ("eth_call", [{"to": contract, "data": SYMBOL_CALL}, "latest"]),
        ("eth_call", [{"to": contract, "data": DECIMALS_CALL}, "latest"]),
    ]


def token_meta(symbol_result: object, decimals_result: object) -> TokenMeta:
    """The answers to token_meta_calls, decoded (None where the token gave no usable one)."""
    return TokenMeta(
        symbol=decode_abi_string(symbol_result), decimals=decode_uint8(decimals_result)
    )


def decode_abi_string(result: object) -> str | None:
    """An ABI-encoded string, or a bytes32 symbol (older tokens); None if neither, if longer
    than MAX_SYMBOL_BYTES, not UTF-8 or not printable (it ends up in events and on pages)."""
    if not isinstance(result, str) or not result.startswith("0x"):
        return None
    try:
        raw = bytes.fromhex(result[2:])
    except ValueError:
        return None
    text: bytes
    if len(raw) == 32:
        text = raw.rstrip(b"\0")
    elif len(raw) >= 64:
        offset = int.from_bytes(raw[:32], "big")
        if offset + 32 > len(raw):
            return None
        length = int.from_bytes(raw[offset : offset + 32], "big")
        if length > MAX_SYMBOL_BYTES or offset + 32 + length > len(raw):
            return None
        text = raw[offset + 32 : offset + 32 + length]
    else:
        return None
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return s if s.isprintable() else None


def decode_uint8(result: object) -> int | None:
    """A uint8 ABI word (token decimals), or None."""
    if not isinstance(result, str) or len(result) != 66:
        return None
    try:
        v = int(result, 16)
    except ValueError:
        return None
    return v if v <= 255 else None
