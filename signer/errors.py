"""The signer's exceptions. Their messages are shown to the user as they are, so they never
hold a secret (words, seed, private key, passphrase, API secret)."""

from __future__ import annotations


class SignerError(Exception):
    """Base of every error the signer raises on purpose; the CLI prints it and exits 2."""


class KeystoreError(SignerError):
    """The keystore cannot be created or unlocked."""


class PolicyError(SignerError):
    """The policy file is missing or wrong."""


class JournalError(SignerError):
    """The journal cannot be read or written: the signer must not go on without it."""


class RequestError(SignerError):
    """A signing request is malformed; the message is the refusal reason."""
