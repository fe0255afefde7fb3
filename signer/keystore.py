"""The encrypted keystore: BIP-39 words sealed with AES-256-GCM under a scrypt key.

The file is JSON: a header (version, scrypt parameters, salt, nonce, the public account
xpub) and the ciphertext of the words. The header, as canonical JSON, is the associated
data, so changing any of it (the xpub too) makes the GCM tag fail like a wrong passphrase.
`unlock` gives an `Account` that keeps the seed to itself and hands out only what signing
needs: addresses, the xpub, and the private key of the two kinds of path a withdrawal uses."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from pathlib import Path
from typing import Any, NoReturn

from bip_utils import Bip32Secp256k1, Bip39MnemonicValidator, Bip39SeedGenerator
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eth_utils.crypto import keccak

from signer.errors import KeystoreError

VERSION = 1
SCRYPT_N = 2**16
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAXMEM = 128 * 1024 * 1024
ACCOUNT_PATH = "m/44'/60'/0'"
TREASURY_PATH = "m/44'/60'/0'/1/0"
WRONG = "wrong passphrase or damaged keystore"
_PATH = re.compile(r"m/44'/60'/0'/(0|1)/(0|[1-9][0-9]{0,9})\Z")
_FIELDS = {"version", "kdf", "n", "r", "p", "salt", "nonce", "ciphertext", "xpub"}


def normalize_words(words: str) -> str:
    """The words in the form BIP-39 seeds them from: NFKD, lower case, single spaces."""
    return " ".join(unicodedata.normalize("NFKD", words).lower().split())


def words_valid(words: str) -> bool:
    """Whether words are a BIP-39 English mnemonic of 12 to 24 words with a good checksum
    (a bool, never an error: bip_utils' messages can quote a word)."""
    n = len(words.split())
    if n not in (12, 15, 18, 21, 24):
        return False
    try:
        return bool(Bip39MnemonicValidator().IsValid(words))
    except Exception:
        return False


def _derive_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    secret = unicodedata.normalize("NFC", passphrase).encode()
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=32)


def _aad(header: dict[str, Any]) -> bytes:
    """Canonical JSON of everything but the ciphertext."""
    body = {k: v for k, v in header.items() if k != "ciphertext"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _address(public_uncompressed: bytes) -> str:
    return "0x" + keccak(public_uncompressed[1:])[-20:].hex()


def check_path(path: str) -> tuple[int, int]:
    """(change, index) of a path the signer signs for: the treasury m/44'/60'/0'/1/0 or a
    receiving address m/44'/60'/0'/0/i; KeystoreError for anything else."""
    m = _PATH.match(path) if isinstance(path, str) else None
    if m is None or (m.group(1) == "1" and m.group(2) != "0") or int(m.group(2)) >= 2**31:
        raise KeystoreError(f"path {str(path)[:40]!r} is not one this signer signs for")
    return int(m.group(1)), int(m.group(2))


class Account:
    """An unlocked seed. Nothing of it is shown by repr, pickled or copied."""

    __slots__ = ("__key", "__xpub")

    def __init__(self, seed: bytes) -> None:
        key = Bip32Secp256k1.FromSeed(seed).DerivePath(ACCOUNT_PATH)
        self.__key: Any = key
        self.__xpub = str(key.PublicKey().ToExtended())

    def __repr__(self) -> str:
        return "<signer.Account (unlocked)>"

    def __reduce__(self) -> NoReturn:
        raise TypeError("an unlocked account cannot be pickled or copied")

    def xpub(self) -> str:
        """The account-level extended public key of m/44'/60'/0' (mainnet "xpub" bytes)."""
        return self.__xpub

    def _child(self, path: str) -> Any:
        change, index = check_path(path)
        return self.__key.ChildKey(change).ChildKey(index)

    def address(self, path: str) -> str:
        """The lower-case address at path (one of check_path's)."""
        return _address(bytes(self._child(path).PublicKey().RawUncompressed().ToBytes()))

    def treasury_address(self) -> str:
        """The address of m/44'/60'/0'/1/0, which a signer wallet pays out from."""
        return self.address(TREASURY_PATH)

    def private_key(self, path: str) -> bytes:
        """The 32-byte private key at path, for signing only (never logged or stored)."""
        return bytes(self._child(path).PrivateKey().Raw().ToBytes())


def from_words(words: str) -> Account:
    """The account of BIP-39 words (no BIP-39 passphrase), without any keystore."""
    words = normalize_words(words)
    if not words_valid(words):
        raise KeystoreError("the words are not a valid BIP-39 mnemonic (12 to 24 words)")
    return Account(bytes(Bip39SeedGenerator(words).Generate()))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, data: bytes, force: bool) -> None:
    """Write a 0600 file next to path, fsync it, then move it in place (os.link refuses an
    existing file, so without force nothing is ever overwritten, even in a race)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise KeystoreError(f"{path} exists already (--force replaces it)") from None
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def create(
    path: str | Path, words: str, passphrase: str, *, force: bool = False, n: int = SCRYPT_N
) -> Account:
    """Seal words under passphrase into a new keystore at path; the unlocked account."""
    p = Path(path)
    words = normalize_words(words)
    if not words_valid(words):
        raise KeystoreError("the words are not a valid BIP-39 mnemonic (12 to 24 words)")
    if not passphrase:
        raise KeystoreError("the passphrase is empty")
    if n < 2 or n & (n - 1):
        raise KeystoreError("scrypt n must be a power of two")
    if p.exists() and not force:
        raise KeystoreError(f"{p} exists already (--force replaces it)")
    if not p.parent.is_dir():
        raise KeystoreError(f"directory {p.parent} does not exist")
    account = from_words(words)
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    header: dict[str, Any] = {
        "version": VERSION,
        "kdf": "scrypt",
        "n": n,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": salt.hex(),
        "nonce": nonce.hex(),
        "xpub": account.xpub(),
    }
    key = _derive_key(passphrase, salt, n, SCRYPT_R, SCRYPT_P)
    sealed = AESGCM(key).encrypt(nonce, words.encode(), _aad(header))
    doc = {**header, "ciphertext": sealed.hex()}
    _write_atomically(p, (json.dumps(doc, indent=2) + "\n").encode(), force)
    return account


def read_header(path: str | Path) -> dict[str, Any]:
    """The keystore's JSON, checked for shape (no passphrase needed, nothing decrypted)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_bytes())
    except FileNotFoundError:
        raise KeystoreError(f"no keystore at {p}") from None
    except (OSError, ValueError) as exc:
        raise KeystoreError(
            f"{p} is not a readable signer keystore ({type(exc).__name__})"
        ) from None
    if not isinstance(doc, dict) or set(doc) != _FIELDS:
        raise KeystoreError(f"{p} is not a signer keystore")
    if doc["version"] != VERSION or doc["kdf"] != "scrypt":
        raise KeystoreError(f"{p}: unsupported keystore version or kdf")
    ints = [doc["n"], doc["r"], doc["p"]]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in ints):
        raise KeystoreError(f"{p}: bad scrypt parameters")
    n, r, par = ints
    if n < 2 or n & (n - 1) or n > 2**20 or r > 32 or par > 16:
        raise KeystoreError(f"{p}: bad scrypt parameters")
    for field in ("salt", "nonce", "ciphertext", "xpub"):
        if not isinstance(doc[field], str):
            raise KeystoreError(f"{p}: {field} is not a string")
    return doc


def unlock(path: str | Path, passphrase: str) -> Account:
    """The account of the keystore at path; KeystoreError(WRONG) when the passphrase does
    not open it (or the file was changed)."""
    doc = read_header(path)
    try:
        salt, nonce = bytes.fromhex(doc["salt"]), bytes.fromhex(doc["nonce"])
        sealed = bytes.fromhex(doc["ciphertext"])
    except ValueError:
        raise KeystoreError(WRONG) from None
    if len(salt) != 16 or len(nonce) != 12:
        raise KeystoreError(WRONG)
    key = _derive_key(passphrase, salt, doc["n"], doc["r"], doc["p"])
    try:
        plain = AESGCM(key).decrypt(nonce, sealed, _aad(doc))
    except InvalidTag:
        raise KeystoreError(WRONG) from None
    try:
        words = plain.decode()
    except UnicodeDecodeError:
        raise KeystoreError(WRONG) from None
    if not words_valid(words):
        raise KeystoreError(WRONG)
    account = from_words(words)
    if not hmac.compare_digest(account.xpub().encode(), doc["xpub"].encode()):
        raise KeystoreError(WRONG)
    return account
