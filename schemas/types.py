"""Chain value types shared by records and logic: addresses, hashes, amounts."""

from __future__ import annotations

import re
from typing import NewType

from eth_utils.address import to_checksum_address

Address = NewType("Address", str)
Hash32 = NewType("Hash32", str)

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def normalize_address(value: object) -> Address:
    """Lower-case an EVM address; a mixed-case one must carry a valid EIP-55 checksum."""
    if not isinstance(value, str) or not _HEX_ADDRESS.fullmatch(value):
        raise ValueError("not a 0x-prefixed 20-byte hex address")
    body = value[2:]
    if body != body.lower() and body != body.upper() and to_checksum_address(value) != value:
        raise ValueError("address checksum (EIP-55) does not match")
    return Address("0x" + body.lower())


def is_hash32(value: object) -> bool:
    """True for a 0x-prefixed 32-byte hex string."""
    return isinstance(value, str) and bool(_HEX_HASH.fullmatch(value))
