"""signer.reqsign, written with the standard library only, against the platform's own
streams.reqsign: the platform must take every signature the signer makes."""

from __future__ import annotations

import pytest

from signer import reqsign
from streams import reqsign as platform

CASES = [
    ("GET", "/v1/signer/chains", b""),
    ("GET", "/v1/signer/requests?wait=25", b""),
    ("GET", "/base/v1/signer/requests?wait=0&limit=10", b""),
    ("POST", "/v1/signer/wallets", b'{"chain":"local","xpub":"xpub6C..."}'),
    ("POST", "/v1/signer/requests/sig_0123abcd", b'{"signed_tx":"0x02f8"}'),
    ("POST", "/v1/signer/requests/sig_0123abcd", '{"refused":"caf\u00e9 \u2013 no"}'.encode()),
    ("post", "/v1/signer/requests/sig_x", b"\x00\xff binary"),
]
SECRETS = ["bhsk_" + "a" * 40, "s3cr\u00e9t with spaces", "x"]


@pytest.mark.parametrize(("method", "path", "body"), CASES)
@pytest.mark.parametrize("secret", SECRETS)
def test_the_platform_accepts_the_signers_headers(
    method: str, path: str, body: bytes, secret: str
) -> None:
    headers = reqsign.sign_headers("key_1", secret, method, path, body, 1_700_000_000.9)
    assert headers["bh-key"] == "key_1"
    assert headers["bh-timestamp"] == "1700000000"
    assert platform.NONCE_RE.match(headers["bh-nonce"])
    assert platform.signature_ok(
        secret,
        headers["bh-signature"],
        headers["bh-timestamp"],
        headers["bh-nonce"],
        method,
        path,
        body,
    )
    assert not platform.signature_ok(
        secret + "x",
        headers["bh-signature"],
        headers["bh-timestamp"],
        headers["bh-nonce"],
        method,
        path,
        body,
    )


@pytest.mark.parametrize(("method", "path", "body"), CASES)
def test_the_signature_is_the_platforms(method: str, path: str, body: bytes) -> None:
    want = platform.signature("bhsk_x", "1700000000", "n-1", method, path, body)
    assert reqsign.signature("bhsk_x", "1700000000", "n-1", method, path, body) == want
    assert want.startswith(platform.SCHEME)


def test_every_request_gets_a_fresh_nonce() -> None:
    nonces = {reqsign.sign_headers("k", "s", "GET", "/", b"", 0)["bh-nonce"] for _ in range(50)}
    assert len(nonces) == 50
