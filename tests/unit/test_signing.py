"""signing: Standard Webhooks signatures, checked with the reference library."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from schemas.monitor import new_secret
from streams.signing import secret_key, sign, signature_header, webhook_headers

BODY = b'{"id":"evt_1","type":"transfer.confirmed","amount":"1500000"}'


def test_secret_key_strips_the_prefix() -> None:
    raw = bytes(range(32))
    s = "whsec_" + base64.b64encode(raw).decode()
    assert secret_key(s) == raw
    assert secret_key(base64.b64encode(raw).decode()) == raw


def test_signature_verifies_with_standardwebhooks() -> None:
    secret = new_secret()
    ts = int(time.time())
    headers = webhook_headers([secret], "evt_1", ts, BODY)
    assert headers["webhook-id"] == "evt_1"
    assert headers["webhook-timestamp"] == str(ts)
    assert headers["content-type"] == "application/json"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == {
        "id": "evt_1",
        "type": "transfer.confirmed",
        "amount": "1500000",
    }


def test_matches_the_reference_signer() -> None:
    secret = new_secret()
    ts = 1_795_262_400
    ref = Webhook(secret).sign("evt_1", _dt(ts), BODY.decode())
    assert sign(secret, "evt_1", ts, BODY) == ref


def _dt(ts: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, tz=UTC)


def test_rotation_two_secrets_each_verifies() -> None:
    old, new = new_secret(), new_secret()
    ts = int(time.time())
    headers = webhook_headers([old, new], "evt_2", ts, BODY)
    sigs = headers["webhook-signature"].split(" ")
    assert len(sigs) == 2 and all(s.startswith("v1,") for s in sigs)
    assert headers["webhook-signature"] == signature_header([old, new], "evt_2", ts, BODY)
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b, h: (b.replace(b"1500000", b"9500000"), h),
        lambda b, h: (b + b" ", h),
        lambda b, h: (b, {**h, "webhook-id": "evt_other"}),
        lambda b, h: (b, {**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}),
    ],
    ids=["body", "trailing-space", "id", "timestamp"],
)
def test_tampering_fails(tamper) -> None:
    secret = new_secret()
    headers = webhook_headers([secret], "evt_1", int(time.time()), BODY)
    body, hdrs = tamper(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, hdrs)


def test_wrong_secret_fails() -> None:
    headers = webhook_headers([new_secret()], "evt_1", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_non_ascii_body() -> None:
    secret = new_secret()
    body = '{"name":"café ✓"}'.encode()
    headers = webhook_headers([secret], "evt_3", int(time.time()), body)
    assert Webhook(secret).verify(body, headers) == {"name": "café ✓"}


def test_new_secret_shape() -> None:
    s = new_secret()
    assert s.startswith("whsec_")
    assert len(base64.b64decode(s[6:], validate=True)) == 24
    assert new_secret() != s
