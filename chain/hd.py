"""BIP-32 public derivation of EVM deposit addresses from account-level extended public keys.

Parsing and validation go through bip-utils (base58check, version bytes, depth, the point on
the curve). Deriving many children uses the same CKDpub formula directly on coincurve (a
bip-utils dependency): HMAC-SHA512(chain code, K || i), child = K + IL·G. It is about four
times faster than building a bip-utils key object per child; tests check both agree.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass

import coincurve
from bip_utils import Bip32KeyError, Bip32Secp256k1
from bip_utils.base58 import Base58Decoder
from eth_hash.auto import keccak

from core.errors import BlockhookError

HARDENED = 0x80000000
EVM_COIN = 60
EXTERNAL_CHAIN = 0  # BIP-44 change level 0: receiving addresses
TREASURY_CHAIN = 1  # change level 1, index 0: a signer wallet's treasury
MAX_INDEX = HARDENED - 1  # non-hardened children only

# Extended key version bytes (SLIP-132). Only xpub/tpub are accepted for EVM.
XPUB = 0x0488B21E
TPUB = 0x043587CF
PUBLIC_OTHER = {
    0x049D7CB2: "ypub (BIP-49, Bitcoin P2SH-SegWit)",
    0x04B24746: "zpub (BIP-84, Bitcoin native SegWit)",
    0x044A5262: "upub (BIP-49 testnet)",
    0x045F1CF6: "vpub (BIP-84 testnet)",
    0x0295B43F: "Ypub (multisig)",
    0x02AA7ED3: "Zpub (multisig)",
}
PRIVATE = {
    0x0488ADE4,  # xprv
    0x04358394,  # tprv
    0x049D7878,  # yprv
    0x04B2430C,  # zprv
    0x044A4E28,  # uprv
    0x045F18BC,  # vprv
    0x0295B005,  # Yprv
    0x02AA7A99,  # Zprv
}
_PRIVATE_PREFIXES = ("xprv", "tprv", "yprv", "zprv", "uprv", "vprv", "Yprv", "Zprv")
_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]+$")
_HEX_SECRET = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_WIF = re.compile(r"^[5KLc9][1-9A-HJ-NP-Za-km-z]{50,51}$")
PRIVATE_REFUSED = "private keys are refused: register the account's extended public key (xpub)"


class XpubError(BlockhookError):
    """An extended key that cannot be registered; code and message are safe to show
    (they never contain the key)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidChild(BlockhookError):
    """BIP-32: this index gives no valid key (probability below 2^-127); use the next one."""


@dataclass(frozen=True)
class AccountKey:
    """A validated account-level extended public key (m/44'/60'/account')."""

    xpub: str
    testnet: bool
    account: int
    parent_fingerprint: str
    public_key: bytes  # compressed, 33 bytes
    chain_code: bytes

    @property
    def path_prefix(self) -> str:
        return f"m/44'/{EVM_COIN}'/{self.account}'"

    def path(self, index: int) -> str:
        """The full derivation path of the receiving address at index."""
        return f"{self.path_prefix}/{EXTERNAL_CHAIN}/{index}"

    def fingerprint(self) -> str:
        """This key's own fingerprint (HASH160 of the public key, first 4 bytes), hex."""
        h = hashlib.new("ripemd160", hashlib.sha256(self.public_key).digest()).digest()
        return h[:4].hex()


def looks_private(text: str) -> bool:
    """Does this look like any kind of secret (extended private key, raw key, WIF, mnemonic)?"""
    t = text.strip()
    if t.startswith(_PRIVATE_PREFIXES) or _HEX_SECRET.match(t) or _WIF.match(t):
        return True
    words = t.split()
    return len(words) >= 12 and all(w.isalpha() and w.islower() for w in words)


def parse_account_xpub(text: object, testnet_ok: bool) -> AccountKey:
    """Validate an account-level xpub (tpub too when testnet_ok). Raises XpubError."""
    if not isinstance(text, str):
        raise XpubError("invalid_xpub", "xpub must be a string")
    if looks_private(text):
        raise XpubError("private_key_refused", PRIVATE_REFUSED)
    t = text.strip()
    if not 100 <= len(t) <= 120 or not _BASE58.match(t):
        raise XpubError("invalid_xpub", "not a base58 extended public key (xpub...)")
    try:
        raw = Base58Decoder.CheckDecode(t)
    except Exception:
        raise XpubError("invalid_xpub", "base58check checksum does not match") from None
    if len(raw) != 78:
        raise XpubError("invalid_xpub", "an extended key is 78 bytes; this one is not")
    version = int.from_bytes(raw[:4], "big")
    depth, parent_fp = raw[4], raw[5:9]
    index = int.from_bytes(raw[9:13], "big")
    chain_code, key = raw[13:45], raw[45:78]
    if version in PRIVATE or key[0] == 0:
        raise XpubError("private_key_refused", PRIVATE_REFUSED)
    if version in PUBLIC_OTHER:
        raise XpubError(
            "unsupported_key_type",
            f"a {PUBLIC_OTHER[version]} key is not an EVM key: export the xpub of m/44'/60'/a'",
        )
    if version == TPUB and not testnet_ok:
        raise XpubError(
            "wrong_network",
            "a testnet key (tpub) cannot be registered for a mainnet chain; use the xpub",
        )
    if version not in (XPUB, TPUB):
        raise XpubError("invalid_xpub", "unknown extended key version bytes")
    if depth != 3 or index < HARDENED:
        raise XpubError(
            "wrong_depth",
            f"an account-level key (depth 3, m/44'/60'/a') is needed; this one has depth "
            f"{depth}{'' if index >= HARDENED or depth == 0 else ' and a non-hardened index'}",
        )
    if key[0] not in (2, 3):
        raise XpubError("invalid_xpub", "the public key is not a compressed secp256k1 point")
    try:
        Bip32Secp256k1.FromExtendedKey(t, _net_versions(version))
    except (Bip32KeyError, ValueError):
        raise XpubError("invalid_xpub", "the public key is not a valid secp256k1 point") from None
    return AccountKey(
        xpub=t,
        testnet=version == TPUB,
        account=index - HARDENED,
        parent_fingerprint=parent_fp.hex(),
        public_key=bytes(key),
        chain_code=bytes(chain_code),
    )


def _net_versions(version: int) -> object:
    from bip_utils import Bip32KeyNetVersions

    if version == TPUB:
        return Bip32KeyNetVersions(bytes.fromhex("043587cf"), bytes.fromhex("04358394"))
    return Bip32KeyNetVersions(bytes.fromhex("0488b21e"), bytes.fromhex("0488ade4"))


def ckd_pub(public_key: bytes, chain_code: bytes, index: int) -> tuple[bytes, bytes]:
    """BIP-32 CKDpub: the non-hardened child (compressed public key, chain code)."""
    if not 0 <= index <= MAX_INDEX:
        raise ValueError("index must be a non-hardened child number (0 .. 2^31-1)")
    i = hmac.digest(chain_code, public_key + index.to_bytes(4, "big"), "sha512")
    try:
        child = coincurve.PublicKey(public_key).add(i[:32])
    except ValueError as exc:  # IL >= n or the point at infinity
        raise InvalidChild(f"index {index} gives no valid key") from exc
    return child.format(compressed=True), i[32:]


def address_of(public_key: bytes) -> str:
    """The lower-case EVM address of a public key."""
    point = coincurve.PublicKey(public_key).format(compressed=False)[1:]
    return "0x" + keccak(point)[-20:].hex()


def treasury_path(key: AccountKey) -> str:
    """The treasury's derivation path: <account>/1/0."""
    return f"{key.path_prefix}/{TREASURY_CHAIN}/0"


def treasury_address(key: AccountKey) -> str:
    """The address of <account>/1/0, where a signer wallet keeps what it pays out from."""
    pub, cc = ckd_pub(key.public_key, key.chain_code, TREASURY_CHAIN)
    return address_of(ckd_pub(pub, cc, 0)[0])


class Deriver:
    """Receiving addresses of one account key (the external chain key is derived once)."""

    def __init__(self, key: AccountKey) -> None:
        self.key = key
        pub, cc = ckd_pub(key.public_key, key.chain_code, EXTERNAL_CHAIN)
        self._pub = pub
        self._point = coincurve.PublicKey(pub)
        self._cc = cc

    def address(self, index: int) -> str:
        """The address at <account>/0/index. Raises InvalidChild (next index then)."""
        if not 0 <= index <= MAX_INDEX:
            raise ValueError("index must be between 0 and 2^31-1")
        i = hmac.digest(self._cc, self._pub + index.to_bytes(4, "big"), "sha512")
        try:
            child = self._point.add(i[:32])
        except ValueError as exc:
            raise InvalidChild(f"index {index} gives no valid key") from exc
        return "0x" + keccak(child.format(compressed=False)[1:])[-20:].hex()

    def addresses(self, start: int, count: int) -> Iterator[tuple[int, str]]:
        """(index, address) for count indices from start; an invalid index is skipped."""
        for index in range(start, start + count):
            try:
                yield index, self.address(index)
            except InvalidChild:
                continue


def derive_range(xpub: str, testnet_ok: bool, start: int, count: int) -> list[tuple[int, str]]:
    """(index, address) pairs; a picklable entry point for worker processes."""
    return list(Deriver(parse_account_xpub(xpub, testnet_ok)).addresses(start, count))
