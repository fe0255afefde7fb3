"""signer.keystore: sealing, unlocking, what the file holds, and the keys it derives."""

from __future__ import annotations

import inspect
import json
import pickle
import stat
from pathlib import Path

import pytest
from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum, Bip44, Bip44Changes, Bip44Coins

from chain.hd import parse_account_xpub, treasury_address
from signer import keystore
from signer.errors import KeystoreError
from tests.unit.signer_testkit import ADDRESS0, PATH0, SECRETS, SEED_HEX, WORDS, private_key_hex

LOW_N = 2**4  # tests only: the default is proven below to be 2**16


def make(tmp_path: Path, words: str = WORDS, passphrase: str = "correct horse") -> Path:
    path = tmp_path / "signer.keystore"
    keystore.create(path, words, passphrase, n=LOW_N)
    return path


def test_roundtrip_gives_the_same_account(tmp_path: Path) -> None:
    path = make(tmp_path)
    account = keystore.unlock(path, "correct horse")
    assert account.address(PATH0) == ADDRESS0
    assert account.xpub() == keystore.from_words(WORDS).xpub()


def test_a_wrong_passphrase_is_refused(tmp_path: Path) -> None:
    path = make(tmp_path)
    with pytest.raises(KeystoreError, match="wrong passphrase or damaged keystore"):
        keystore.unlock(path, "correct horsf")


def test_a_changed_header_fails_like_a_wrong_passphrase(tmp_path: Path) -> None:
    path = make(tmp_path)
    other = keystore.from_words(
        str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_12))
    )
    doc = json.loads(path.read_text())
    doc["xpub"] = other.xpub()  # the associated data: the tag no longer verifies
    path.write_text(json.dumps(doc))
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        keystore.unlock(path, "correct horse")


def test_the_file_holds_no_secret_in_the_clear(tmp_path: Path) -> None:
    path = make(tmp_path)
    text = path.read_text().lower()
    for secret in [*SECRETS, *WORDS.split()[-1:], "correct horse"]:
        assert secret.lower() not in text
    doc = json.loads(text)
    assert set(doc) == {"version", "kdf", "n", "r", "p", "salt", "nonce", "ciphertext", "xpub"}
    assert doc["kdf"] == "scrypt" and doc["r"] == 8 and doc["p"] == 1
    assert len(bytes.fromhex(doc["salt"])) == 16 and len(bytes.fromhex(doc["nonce"])) == 12


def test_the_file_is_private_and_no_temporary_file_stays(tmp_path: Path) -> None:
    path = make(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_second_create_is_refused_without_force(tmp_path: Path) -> None:
    path = make(tmp_path)
    before = path.read_bytes()
    with pytest.raises(KeystoreError, match="exists already"):
        keystore.create(path, WORDS, "other", n=LOW_N)
    assert path.read_bytes() == before
    keystore.create(path, WORDS, "other", n=LOW_N, force=True)
    assert keystore.unlock(path, "other").address(PATH0) == ADDRESS0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_default_scrypt_cost_is_2_to_the_16(tmp_path: Path) -> None:
    assert keystore.SCRYPT_N == 2**16
    assert inspect.signature(keystore.create).parameters["n"].default == 2**16
    path = tmp_path / "default.keystore"
    keystore.create(path, WORDS, "pw")
    doc = json.loads(path.read_text())
    assert (doc["n"], doc["r"], doc["p"]) == (65536, 8, 1)
    assert keystore.unlock(path, "pw").address(PATH0) == ADDRESS0


@pytest.mark.parametrize(
    "words",
    [
        "",
        "test test test",
        "test test test test test test test test test test test test",  # bad checksum
        "zzzz test test test test test test test test test test junk",
    ],
)
def test_bad_words_are_refused_without_quoting_them(tmp_path: Path, words: str) -> None:
    with pytest.raises(KeystoreError) as info:
        keystore.create(tmp_path / "k", words, "pw", n=LOW_N)
    assert "zzzz" not in str(info.value) and "test" not in str(info.value)
    assert not (tmp_path / "k").exists()


def test_an_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="empty"):
        keystore.create(tmp_path / "k", WORDS, "", n=LOW_N)


@pytest.mark.parametrize("content", ["", "not json", "[]", '{"version": 1}'])
def test_a_file_that_is_no_keystore_is_said_so(tmp_path: Path, content: str) -> None:
    path = tmp_path / "k"
    path.write_text(content)
    with pytest.raises(KeystoreError, match="keystore"):
        keystore.unlock(path, "pw")


def test_a_missing_keystore_is_said_so(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="no keystore at"):
        keystore.unlock(tmp_path / "missing", "pw")


def test_words_are_normalized_before_sealing(tmp_path: Path) -> None:
    path = make(tmp_path, words="  Test TEST test test test test test test test test test junk\n")
    assert keystore.unlock(path, "correct horse").address(PATH0) == ADDRESS0


def test_the_xpub_matches_bip_utils_and_the_platform(tmp_path: Path) -> None:
    account = keystore.unlock(make(tmp_path), "correct horse")
    seed = bytes.fromhex(SEED_HEX)
    bip44 = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)
    assert account.xpub() == bip44.PublicKey().ToExtended()
    assert account.xpub().startswith("xpub")
    key = parse_account_xpub(account.xpub(), testnet_ok=False)
    assert key.account == 0
    assert account.treasury_address() == treasury_address(key)
    assert account.address("m/44'/60'/0'/1/0") == treasury_address(key)
    assert parse_account_xpub(account.xpub(), testnet_ok=True).xpub == account.xpub()


def test_addresses_and_keys_of_the_allowed_paths() -> None:
    account = keystore.from_words(WORDS)
    assert account.address(PATH0) == ADDRESS0
    assert account.private_key(PATH0).hex() == private_key_hex(PATH0)
    path = "m/44'/60'/0'/0/12345"
    assert account.private_key(path).hex() == private_key_hex(path)
    seed = bytes.fromhex(SEED_HEX)
    bip44 = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)
    want = bip44.Change(Bip44Changes.CHAIN_EXT).AddressIndex(12345).PublicKey().ToAddress().lower()
    assert account.address(path) == want


@pytest.mark.parametrize(
    "path",
    [
        "m/44'/60'/0'",
        "m/44'/60'/0'/1/1",
        "m/44'/60'/1'/0/0",
        "m/44'/60'/0'/2/0",
        "m/44'/60'/0'/0/0'",
        "m/44'/60'/0'/0/2147483648",
        "m/44'/60'/0'/0/01",
        "m/0",
    ],
)
def test_other_paths_are_refused(path: str) -> None:
    account = keystore.from_words(WORDS)
    with pytest.raises(KeystoreError, match="not one this signer signs for"):
        account.private_key(path)
    with pytest.raises(KeystoreError):
        account.address(path)


def test_the_account_shows_and_copies_nothing() -> None:
    account = keystore.from_words(WORDS)
    shown = repr(account) + str(account)
    for secret in SECRETS:
        assert secret not in shown
    assert "xpub" not in shown
    with pytest.raises(TypeError):
        pickle.dumps(account)
    assert not hasattr(account, "__dict__")
