"""Secrets at rest: AES-256-GCM under the master key, with the key's id beside each box.

API secrets must be kept recoverable (an HMAC needs the secret itself, so a hash is not
enough), so they are encrypted. A box names the master key it was made with (the first bytes
of the key's SHA-256), so a rotation can open old boxes with the previous key while new ones
are sealed with the current one."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import ConfigError
from core.settings import AuthSettings

KEY_BYTES = 32


class SecretBoxError(ValueError):
    """A box that no master key opens, or a master key that is not one."""


def parse_master_key(text: str) -> bytes:
    """A master key from its base64 text (32 bytes); SecretBoxError otherwise."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretBoxError("the master key is not base64") from None
    if len(raw) != KEY_BYTES:
        raise SecretBoxError(f"the master key must be {KEY_BYTES} bytes, base64-encoded")
    return raw


def new_master_key() -> str:
    """A fresh master key, as its base64 text."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def key_id(master: bytes) -> str:
    """The public name of a master key (it reveals nothing of the key)."""
    return hashlib.sha256(b"blockhook master key\n" + master).hexdigest()[:16]


class SecretBox:
    """Seals with the current master key; opens with it or any previous one."""

    def __init__(self, current: bytes, previous: Sequence[bytes] = ()) -> None:
        self.kid = key_id(current)
        self._keys = {key_id(k): AESGCM(k) for k in (*previous, current)}

    def seal(self, plain: bytes, context: str) -> dict[str, str]:
        """An encrypted box; `context` (the record's id) is bound in, so a box cannot be
        moved to another record."""
        nonce = os.urandom(12)
        ct = self._keys[self.kid].encrypt(nonce, plain, context.encode())
        return {
            "kid": self.kid,
            "nonce": base64.b64encode(nonce).decode(),
            "ct": base64.b64encode(ct).decode(),
        }

    def open(self, box: object, context: str) -> bytes:
        """The plain bytes of a box; SecretBoxError if no known key opens it."""
        if not isinstance(box, dict):
            raise SecretBoxError("not a sealed box")
        aead = self._keys.get(str(box.get("kid")))
        if aead is None:
            raise SecretBoxError(f"sealed under an unknown master key {box.get('kid')}")
        try:
            nonce = base64.b64decode(str(box.get("nonce")), validate=True)
            ct = base64.b64decode(str(box.get("ct")), validate=True)
            return aead.decrypt(nonce, ct, context.encode())
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretBoxError("the box does not open (tampered, or another key)") from None

    def needs_reseal(self, box: object) -> bool:
        """Whether the box was sealed under a previous master key."""
        return not isinstance(box, dict) or box.get("kid") != self.kid


def box_from_settings(auth: AuthSettings) -> SecretBox:
    """The box over the configured master keys; ConfigError if there is no usable key."""
    text = auth.master_key_text()
    if not text:
        raise ConfigError(
            "no master key: set auth.master_key_file or BLOCKHOOK_AUTH__MASTER_KEY "
            "(`blockhook keys master-key` prints a new one)"
        )
    try:
        current = parse_master_key(text)
        previous = [parse_master_key(k.get_secret_value()) for k in auth.previous_master_keys]
    except SecretBoxError as exc:
        raise ConfigError(str(exc)) from None
    return SecretBox(current, previous)
