"""Signing one request's transaction with the key at its path (eth_account, RFC 6979: the
same transaction always gives the same bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account as EthAccount
from eth_utils.address import to_checksum_address

from signer.errors import SignerError
from signer.keystore import Account
from signer.request import Request, Tx


@dataclass(frozen=True)
class SignedTx:
    """The signed bytes, as the platform takes them, and their hash."""

    raw: str  # 0x-prefixed lower-case hex
    hash: str


def eth_account_tx(tx: Tx) -> dict[str, Any]:
    """tx in eth_account's form: ints, checksummed `to`, hex data, empty access list."""
    return {
        "type": 2,
        "chainId": tx.chain_id,
        "nonce": tx.nonce,
        "to": to_checksum_address(tx.to),
        "value": tx.value,
        "data": tx.data,
        "gas": tx.gas,
        "maxFeePerGas": tx.max_fee_per_gas,
        "maxPriorityFeePerGas": tx.max_priority_fee_per_gas,
        "accessList": [],
    }


def sign(account: Account, req: Request) -> SignedTx:
    """req's transaction signed by the key at req.path, checked to recover to that key's
    address before it is returned."""
    key = account.private_key(req.path)
    try:
        signed = EthAccount.sign_transaction(eth_account_tx(req.tx), key)
        raw = "0x" + bytes(signed.raw_transaction).hex()
        tx_hash = "0x" + bytes(signed.hash).hex()
        recovered = str(EthAccount.recover_transaction(raw)).lower()
    except Exception as exc:  # eth_account raises many kinds; its messages are not shown
        raise SignerError(f"the transaction could not be signed ({type(exc).__name__})") from None
    finally:
        del key
    if recovered != account.address(req.path):
        raise SignerError("the signature does not recover to the key's address")
    return SignedTx(raw=raw, hash=tx_hash)
