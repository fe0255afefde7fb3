"""Shared makings of the signer's tests: the well-known test mnemonic, its keys, and signing
requests built the way the platform builds them (streams.txbuild, streams.withdrawal)."""

from __future__ import annotations

import copy
from typing import Any

from bip_utils import Bip32Secp256k1, Bip39SeedGenerator

from signer import keystore
from streams.txbuild import Fees, unsigned_tx
from streams.withdrawal import public

WORDS = "test test test test test test test test test test test junk"
ADDRESS0 = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"  # m/44'/60'/0'/0/0
PATH0 = "m/44'/60'/0'/0/0"
TREASURY_PATH = "m/44'/60'/0'/1/0"
BOB = "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"
CAROL = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
TOKEN = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
CHAIN_ID = 31337
SEED_HEX = bytes(Bip39SeedGenerator(WORDS).Generate()).hex()
ACCOUNT = keystore.from_words(WORDS)
TREASURY = ACCOUNT.treasury_address()


def private_key_hex(path: str) -> str:
    """The private key at path, computed here with bip_utils alone (to look for it)."""
    key = Bip32Secp256k1.FromSeed(bytes.fromhex(SEED_HEX)).DerivePath(path)
    return bytes(key.PrivateKey().Raw().ToBytes()).hex()


SECRETS = [WORDS, SEED_HEX, private_key_hex(PATH0), private_key_hex(TREASURY_PATH)]


def withdrawal(
    *,
    wid: str = "wdr_1",
    sender: str = TREASURY,
    to: str = BOB,
    kind: str = "native",
    contract: str | None = None,
    amount: int = 1000,
    status: str = "signing",
    approvals: tuple[str, ...] = ("bob", "carol"),
    requested_by: str = "alice",
    approvals_required: int = 2,
    nonce: int = 7,
) -> dict[str, Any]:
    """A withdrawal record as the platform publishes it (streams.withdrawal.public)."""
    rec = {
        "id": wid,
        "wallet_id": "wal_1",
        "batch_id": None,
        "chain": "local",
        "from": sender,
        "user_ref": None,
        "to": to,
        "asset": {
            "kind": kind,
            "contract": contract,
            "symbol": "ETH" if kind == "native" else "USDC",
            "decimals": 18 if kind == "native" else 6,
            "token_id": None,
        },
        "amount": str(amount),
        "status": status,
        "requested_by": requested_by,
        "approvals_required": approvals_required,
        "approvals": [{"principal": p, "at": "2026-01-01T00:00:00Z"} for p in approvals],
        "rejected_by": None,
        "reason": None,
        "nonce": nonce,
        "tx_hash": None,
        "confirmations": 0,
        "fee": None,
        "error": None,
        "external_id": None,
        "note": None,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    return public(rec)


def make_request(
    *,
    sid: str = "sig_1",
    nonce: int = 7,
    fees: tuple[int, int] = (2_000_000_000, 1_000_000_000),
    path: str = TREASURY_PATH,
    chain_id: int = CHAIN_ID,
    **wd: Any,
) -> dict[str, Any]:
    """A signing request as streams.withdrawalplan.signing_request shapes it, its `tx` made
    by streams.txbuild.unsigned_tx from the withdrawal."""
    rec = withdrawal(nonce=nonce, **wd)
    asset = rec["asset"]
    tx = unsigned_tx(
        chain_id,
        nonce,
        rec["from"],
        rec["to"],
        asset["kind"],
        asset["contract"],
        int(rec["amount"]),
        21_000 if asset["kind"] == "native" else 65_000,
        Fees(*fees),
    )
    return {
        "id": sid,
        "chain": "local",
        "chain_id": chain_id,
        "wallet_id": "wal_1",
        "path": path,
        "from": rec["from"],
        "tx": tx,
        "withdrawal": rec,
    }


def changed(req: dict[str, Any], **tx: Any) -> dict[str, Any]:
    """A copy of req with some of its tx fields replaced."""
    out = copy.deepcopy(req)
    out["tx"].update(tx)
    return out
