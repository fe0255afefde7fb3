"""Payment request URIs (EIP-681) for a deposit session, the text of its QR code."""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address


def eip681(session: dict[str, Any]) -> str:
    """The payment request URI (EIP-681) a wallet app opens from the QR code."""
    chain_id = session["chain_id"]
    to = to_checksum_address(session["address"])
    amount = session.get("amount")
    asset = session["asset"]
    if asset["kind"] == "native":
        return f"ethereum:{to}@{chain_id}" + (f"?value={amount}" if amount else "")
    token = to_checksum_address(asset["contract"])
    uri = f"ethereum:{token}@{chain_id}/transfer?address={to}"
    return uri + (f"&uint256={amount}" if amount else "")
