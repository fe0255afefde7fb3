"""secretbox: AES-256-GCM boxes bound to their record, and master-key rotation."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from core.errors import ConfigError
from core.settings import AuthSettings
from streams.secretbox import (
    KEY_BYTES,
    SecretBox,
    SecretBoxError,
    box_from_settings,
    key_id,
    new_master_key,
    parse_master_key,
)

K1 = bytes(range(32))
K2 = bytes(range(32, 64))
K3 = b"\xff" * 32
SECRET = b"bhs_live_0123456789abcdefghijklmnopqrstuvwxyz"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_round_trip() -> None:
    box = SecretBox(K1)
    sealed = box.seal(SECRET, "key_1")
    assert set(sealed) == {"kid", "nonce", "ct"}
    assert sealed["kid"] == key_id(K1) == box.kid
    assert len(base64.b64decode(sealed["nonce"])) == 12
    assert box.open(sealed, "key_1") == SECRET
    assert box.open(json.loads(json.dumps(sealed)), "key_1") == SECRET
    assert not box.needs_reseal(sealed)


def test_round_trip_empty_and_binary() -> None:
    box = SecretBox(K1)
    for plain in (b"", b"\x00" * 100, "Grüße 🔑".encode(), bytes(range(256))):
        assert box.open(box.seal(plain, "ctx"), "ctx") == plain


@settings(max_examples=50)
@given(st.binary(max_size=300), st.text(max_size=40))
def test_round_trip_any(plain: bytes, context: str) -> None:
    box = SecretBox(K1)
    assert box.open(box.seal(plain, context), context) == plain


def test_is_aes_gcm_with_the_context_as_associated_data() -> None:
    sealed = SecretBox(K1).seal(SECRET, "key_1")
    nonce = base64.b64decode(sealed["nonce"])
    ct = base64.b64decode(sealed["ct"])
    assert AESGCM(K1).decrypt(nonce, ct, b"key_1") == SECRET
    assert len(ct) == len(SECRET) + 16


def test_seals_are_fresh() -> None:
    box = SecretBox(K1)
    a, b = box.seal(SECRET, "c"), box.seal(SECRET, "c")
    assert a["nonce"] != b["nonce"]
    assert a["ct"] != b["ct"]


@pytest.mark.parametrize("other", ["key_2", "", "key_1 ", "KEY_1", "key_1\x00"])
def test_context_binding(other: str) -> None:
    box = SecretBox(K1)
    sealed = box.seal(SECRET, "key_1")
    with pytest.raises(SecretBoxError):
        box.open(sealed, other)


def test_non_ascii_context() -> None:
    box = SecretBox(K1)
    sealed = box.seal(SECRET, "clé-ü")
    assert box.open(sealed, "clé-ü") == SECRET
    with pytest.raises(SecretBoxError):
        box.open(sealed, "cle-u")


def _flip_b64(text: str, i: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[i] ^= 0x01
    return b64(bytes(raw))


@pytest.mark.parametrize("i", [0, 5, len(SECRET) - 1, len(SECRET), len(SECRET) + 15])
def test_tampered_ciphertext_fails(i: int) -> None:
    box = SecretBox(K1)
    sealed = box.seal(SECRET, "key_1")
    bad = {**sealed, "ct": _flip_b64(sealed["ct"], i)}
    with pytest.raises(SecretBoxError):
        box.open(bad, "key_1")


def test_tampered_nonce_fails() -> None:
    box = SecretBox(K1)
    sealed = box.seal(SECRET, "key_1")
    with pytest.raises(SecretBoxError):
        box.open({**sealed, "nonce": _flip_b64(sealed["nonce"], 0)}, "key_1")


@pytest.mark.parametrize(
    "change",
    [
        {"ct": ""},
        {"ct": "AAAA"},
        {"ct": "not base64!"},
        {"ct": "é"},
        {"nonce": ""},
        {"nonce": "not base64!"},
        {"nonce": "é"},
        {"nonce": b64(b"short")},
        {"ct": None},
        {"nonce": 12},
    ],
)
def test_garbled_box_fails_with_secretboxerror(change: dict[str, object]) -> None:
    box = SecretBox(K1)
    sealed: dict[str, object] = {**box.seal(SECRET, "key_1"), **change}
    with pytest.raises(SecretBoxError):
        box.open(sealed, "key_1")


def test_truncated_ciphertext_fails() -> None:
    box = SecretBox(K1)
    sealed = box.seal(SECRET, "key_1")
    ct = base64.b64decode(sealed["ct"])
    for cut in (ct[:-1], ct[:16], ct[:15], ct[1:]):
        with pytest.raises(SecretBoxError):
            box.open({**sealed, "ct": b64(cut)}, "key_1")


@pytest.mark.parametrize("box", [None, "box", ["kid", "nonce", "ct"], 42, b"{}"])
def test_not_a_box(box: object) -> None:
    with pytest.raises(SecretBoxError):
        SecretBox(K1).open(box, "ctx")
    assert SecretBox(K1).needs_reseal(box)


def test_previous_key_opens_old_boxes() -> None:
    old = SecretBox(K1).seal(SECRET, "key_1")
    rotated = SecretBox(K2, previous=[K1])
    assert rotated.kid == key_id(K2)
    assert rotated.open(old, "key_1") == SECRET
    assert rotated.needs_reseal(old)
    new = rotated.seal(SECRET, "key_1")
    assert new["kid"] == key_id(K2)
    assert not rotated.needs_reseal(new)
    assert rotated.open(new, "key_1") == SECRET


def test_several_previous_keys() -> None:
    a = SecretBox(K1).seal(b"a", "c")
    b = SecretBox(K2).seal(b"b", "c")
    box = SecretBox(K3, previous=[K1, K2])
    assert box.open(a, "c") == b"a"
    assert box.open(b, "c") == b"b"
    assert box.needs_reseal(a) and box.needs_reseal(b)


def test_old_box_still_context_bound_after_rotation() -> None:
    old = SecretBox(K1).seal(SECRET, "key_1")
    with pytest.raises(SecretBoxError):
        SecretBox(K2, previous=[K1]).open(old, "key_2")


def test_new_boxes_do_not_open_with_only_the_old_key() -> None:
    new = SecretBox(K2, previous=[K1]).seal(SECRET, "c")
    with pytest.raises(SecretBoxError, match="unknown master key"):
        SecretBox(K1).open(new, "c")


def test_unknown_kid_refused() -> None:
    box = SecretBox(K1)
    other = SecretBox(K2).seal(SECRET, "c")
    with pytest.raises(SecretBoxError, match="unknown master key"):
        box.open(other, "c")
    sealed = box.seal(SECRET, "c")
    for kid in ("0" * 16, "", None):
        with pytest.raises(SecretBoxError):
            box.open({**sealed, "kid": kid}, "c")
    no_kid = {k: v for k, v in sealed.items() if k != "kid"}
    with pytest.raises(SecretBoxError):
        box.open(no_kid, "c")
    assert box.needs_reseal(no_kid)


def test_relabelled_box_under_another_known_kid_fails() -> None:
    """A box claiming the previous key's id does not open with it."""
    box = SecretBox(K2, previous=[K1])
    sealed = box.seal(SECRET, "c")
    with pytest.raises(SecretBoxError):
        box.open({**sealed, "kid": key_id(K1)}, "c")


def test_key_id() -> None:
    want = hashlib.sha256(b"blockhook master key\n" + K1).hexdigest()[:16]
    assert key_id(K1) == want
    assert len(key_id(K1)) == 16
    assert key_id(K1) != key_id(K2)
    assert K1.hex()[:16] not in key_id(K1)


def test_plaintext_never_appears_in_the_box() -> None:
    box = SecretBox(K1)
    for plain in (SECRET, b"A" * 64, b"hunter2hunter2hunter2"):
        sealed = box.seal(plain, "key_1")
        text = json.dumps(sealed)
        assert plain.decode() not in text
        assert b64(plain) not in text
        assert b64(plain)[:16] not in text
        assert plain.hex() not in text
        assert plain not in base64.b64decode(sealed["ct"])


def test_the_key_never_appears_in_the_box() -> None:
    text = json.dumps(SecretBox(K1).seal(SECRET, "c"))
    assert b64(K1) not in text
    assert K1.hex() not in text


def test_new_master_key() -> None:
    a, b = new_master_key(), new_master_key()
    assert a != b
    assert len(parse_master_key(a)) == KEY_BYTES == 32
    box = SecretBox(parse_master_key(a))
    assert box.open(box.seal(b"x", "c"), "c") == b"x"


def test_parse_master_key() -> None:
    assert parse_master_key(b64(K1)) == K1
    assert parse_master_key(f"  {b64(K1)}\n") == K1


@pytest.mark.parametrize(
    "text",
    ["", "not base64!", "@@@@", b64(K1)[:-1], b64(K1) + "A", "é" * 44, b64(K1).replace("A", "-")],
)
def test_parse_master_key_not_base64(text: str) -> None:
    with pytest.raises(SecretBoxError):
        parse_master_key(text)


def test_parse_master_key_garbage_message() -> None:
    with pytest.raises(SecretBoxError, match="not base64"):
        parse_master_key("not base64!")
    with pytest.raises(SecretBoxError, match="not base64"):
        parse_master_key("ééé")


@pytest.mark.parametrize("n", [0, 1, 16, 24, 31, 33, 64])
def test_parse_master_key_wrong_length(n: int) -> None:
    if n == 0:
        with pytest.raises(SecretBoxError):
            parse_master_key(b64(b""))
        return
    with pytest.raises(SecretBoxError, match="32 bytes"):
        parse_master_key(b64(b"k" * n))


def test_secretboxerror_is_a_valueerror() -> None:
    assert issubclass(SecretBoxError, ValueError)


def test_box_from_settings() -> None:
    old = SecretBox(K1).seal(SECRET, "c")
    auth = AuthSettings(master_key=SecretStr(b64(K2)), previous_master_keys=[SecretStr(b64(K1))])
    box = box_from_settings(auth)
    assert box.kid == key_id(K2)
    assert box.open(old, "c") == SECRET
    assert box.needs_reseal(old)


def test_box_from_settings_key_file(tmp_path: Path) -> None:
    f = tmp_path / "master.key"
    f.write_text(b64(K1) + "\n")
    box = box_from_settings(AuthSettings(master_key_file=f))
    assert box.kid == key_id(K1)


def test_box_from_settings_without_key() -> None:
    with pytest.raises(ConfigError, match="no master key"):
        box_from_settings(AuthSettings())


def test_box_from_settings_bad_keys() -> None:
    with pytest.raises(ConfigError, match="not base64"):
        box_from_settings(AuthSettings(master_key=SecretStr("nope!")))
    with pytest.raises(ConfigError, match="32 bytes"):
        box_from_settings(
            AuthSettings(
                master_key=SecretStr(b64(K1)), previous_master_keys=[SecretStr(b64(b"x" * 16))]
            )
        )
