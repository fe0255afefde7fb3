"""schemas: addresses (EIP-55) and the monitor bodies the API and the monitors topic accept."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.monitor import Monitor, MonitorCreate, MonitorPatch, Retry, Webhook, new_monitor_id
from schemas.types import is_hash32, normalize_address

LOWER = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "value",
    [
        LOWER,
        "0x" + LOWER[2:].upper(),
        CHECKSUMMED,
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ],
)
def test_normalize_address_accepts(value: str) -> None:
    assert normalize_address(value) == value.lower()


@given(st.binary(min_size=20, max_size=20))
def test_normalize_address_accepts_any_checksummed(raw: bytes) -> None:
    lower = "0x" + raw.hex()
    assert normalize_address(to_checksum_address(lower)) == lower


@pytest.mark.parametrize(
    "value",
    [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD",  # one letter's case flipped
        "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        LOWER[:-2],  # 19 bytes
        LOWER + "00",  # 21 bytes
        LOWER[2:],  # no prefix
        "0X" + LOWER[2:],  # upper-case prefix
        "0x" + "g" * 40,
        " " + LOWER,
        "\n" + LOWER,
        "",
        None,
        123,
        b"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        ["0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"],
    ],
)
def test_normalize_address_rejects(value: Any) -> None:
    with pytest.raises(ValueError):
        normalize_address(value)


@pytest.mark.parametrize("value", [LOWER + "\n", "0x" + LOWER[2:].upper() + "\n"])
def test_normalize_address_rejects_trailing_newline(value: str) -> None:
    with pytest.raises(ValueError):
        normalize_address(value)


def test_is_hash32_rejects_trailing_newline() -> None:
    assert not is_hash32("0x" + "ab" * 32 + "\n")


def test_monitor_addresses_reject_trailing_newline() -> None:
    with pytest.raises(ValidationError):
        MonitorCreate.model_validate({"chain": "local", "addresses": [LOWER + "\n"]})


def test_is_hash32() -> None:
    assert is_hash32("0x" + "ab" * 32)
    assert is_hash32("0x" + "AB" * 32)
    assert not is_hash32("0x" + "ab" * 31)
    assert not is_hash32("0x" + "ab" * 33)
    assert not is_hash32("ab" * 33)
    assert not is_hash32("0x" + "zz" * 32)
    assert not is_hash32(None)
    assert not is_hash32(("0x" + "ab" * 32).encode())


# ---------------------------------------------------------------- MonitorCreate


def create(**kw: Any) -> MonitorCreate:
    body: dict[str, Any] = {"chain": "local"}
    body.update(kw)
    return MonitorCreate.model_validate(body)


def test_defaults() -> None:
    m = create()
    assert m.assets == ["native", "erc20", "erc721", "erc1155"]
    assert m.direction == "in" and m.min_amount == "0" and m.notify == "threshold"
    assert m.addresses == [] and m.tokens == [] and m.active is True
    assert m.id is None and m.confirmations is None and m.webhook is None and m.retry is None


def test_full_body_from_json() -> None:
    body = orjson.dumps(
        {
            "name": "hot wallet deposits",
            "chain": "local",
            "addresses": [CHECKSUMMED, LOWER],
            "assets": ["native", "erc20"],
            "tokens": ["0xDBF03B407C01E7CD3CBEA99509D93F8DDDC8C6FB"],
            "direction": "both",
            "min_amount": str(2**256 - 1),
            "confirmations": 12,
            "notify": "every_confirmation",
            "start_block": 0,
            "webhook": {"url": "https://example.com/hook", "secret": SECRET},
            "retry": {"delays_s": [10, 60, 300]},
            "active": False,
            "id": "mon_abc-1_2",
        }
    )
    m = MonitorCreate.model_validate_json(body)
    assert m.addresses == [LOWER]  # lower-cased and de-duplicated
    assert m.tokens == ["0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"]
    assert m.min_amount == str(2**256 - 1)
    assert m.webhook is not None and m.webhook.secret == SECRET
    assert m.retry is not None and m.retry.delays_s == [10, 60, 300]
    assert m.id == "mon_abc-1_2"


@pytest.mark.parametrize(
    "body",
    [
        {"chain": 5},
        {"chain": ""},
        {"addresses": LOWER},  # a string, not a list
        {"addresses": [123]},
        {"addresses": [LOWER[:-1]]},
        {"addresses": ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"]},  # bad checksum
        {"tokens": ["nope"]},
        {"assets": ["bitcoin"]},
        {"assets": []},
        {"assets": "native"},
        {"direction": "IN"},
        {"direction": "sideways"},
        {"notify": "always"},
        {"confirmations": 0},
        {"confirmations": 10_001},
        {"confirmations": "twelve"},
        {"confirmations": 1.5},
        {"start_block": -1},
        {"name": 5},
        {"name": "x" * 201},
        {"active": "maybe"},
        {"webhook": "https://example.com"},
        {"id": "abc"},
        {"id": "mon_"},
        {"id": "mon_a b"},
    ],
    ids=lambda b: next(iter(b)) + "=" + repr(next(iter(b.values())))[:20],
)
def test_rejects_wrong_types_and_values(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        create(**body)


@pytest.mark.parametrize("extra", [{"colour": "red"}, {"add_addresses": []}, {"secret": "x"}])
def test_rejects_unknown_fields(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        create(**extra)


def test_rejects_unknown_fields_in_webhook_and_retry() -> None:
    with pytest.raises(ValidationError):
        create(webhook={"url": "https://example.com/", "headers": {}})
    with pytest.raises(ValidationError):
        create(retry={"delays_s": [1], "jitter": True})


@pytest.mark.parametrize(
    "value",
    [1.5, 1, -1, "-1", "1.5", "1e18", "0x10", " 1", "1 ", "1\n", "", "9" * 79, "\uff11", None],
)
def test_bad_min_amount(value: Any) -> None:
    with pytest.raises(ValidationError):
        create(min_amount=value)


@pytest.mark.parametrize("value", ["0", "1", "1000000000000000000", "9" * 78])
def test_good_min_amount(value: str) -> None:
    assert create(min_amount=value).min_amount == value


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "example.com/hook",
        "//example.com/hook",
        "https://",
        "http:///path",
        "https://user:pw@example.com/hook",
        "https://user@example.com/hook",
        "https://:pw@example.com/hook",
        "",
        "https://example.com/" + "a" * 2100,
    ],
)
def test_bad_webhook_url(url: str) -> None:
    with pytest.raises(ValidationError):
        create(webhook={"url": url})


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "http://127.0.0.1:9000/x?y=1", "https://[2001:db8::1]/h"]
)
def test_good_webhook_url(url: str) -> None:
    m = create(webhook={"url": url})
    assert m.webhook is not None and m.webhook.url == url and m.webhook.secret is None


@pytest.mark.parametrize(
    "secret",
    [
        "secret",
        base64.b64encode(bytes(32)).decode(),  # no whsec_ prefix
        "whsec_",
        "whsec_not base64!!",
        "whsec_" + base64.b64encode(bytes(23)).decode(),  # too short
        "whsec_" + base64.b64encode(bytes(65)).decode(),  # too long
        "whsec_" + base64.b64encode(bytes(32)).decode()[:-1],  # bad padding
        "WHSEC_" + base64.b64encode(bytes(32)).decode(),
    ],
)
def test_bad_secret(secret: str) -> None:
    with pytest.raises(ValidationError):
        Webhook(url="https://example.com/", secret=secret)


@pytest.mark.parametrize("n", [24, 32, 64])
def test_good_secret(n: int) -> None:
    s = "whsec_" + base64.b64encode(bytes(range(n))).decode()
    assert Webhook(url="https://example.com/", secret=s).secret == s


# ---------------------------------------------------------------- Retry


def test_retry_requires_one_kind() -> None:
    with pytest.raises(ValidationError, match="give interval_s and max_age_s, or delays_s"):
        Retry()
    with pytest.raises(ValidationError, match="not both"):
        Retry(interval_s=60, max_age_s=600, delays_s=[1])
    with pytest.raises(ValidationError, match="not both"):
        Retry(interval_s=60, delays_s=[1])


def test_retry_kinds() -> None:
    r = Retry(interval_s=60, max_age_s=600)
    assert (r.interval_s, r.max_age_s, r.delays_s) == (60, 600, None)
    assert Retry(delays_s=[0, 10, 86_400]).delays_s == [0, 10, 86_400]


@pytest.mark.parametrize(
    "kw",
    [
        {"interval_s": 0, "max_age_s": 10},
        {"interval_s": -1, "max_age_s": 10},
        {"interval_s": 86_401, "max_age_s": 10},
        {"interval_s": 10, "max_age_s": 31 * 86_400},
        {"delays_s": []},
        {"delays_s": [-1]},
        {"delays_s": [86_401]},
        {"delays_s": [1] * 101},
        {"delays_s": ["soon"]},
    ],
)
def test_retry_bounds(kw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Retry(**kw)


# ---------------------------------------------------------------- Monitor / MonitorPatch


def test_topic_monitor_requires_id_and_confirmations() -> None:
    with pytest.raises(ValidationError):
        Monitor.model_validate({"chain": "local", "confirmations": 3})
    with pytest.raises(ValidationError):
        Monitor.model_validate({"chain": "local", "id": "mon_x"})
    m = Monitor.model_validate({"chain": "local", "id": "mon_x", "confirmations": 3})
    assert m.confirmations == 3


def test_new_monitor_id_is_valid() -> None:
    mid = new_monitor_id()
    assert Monitor.model_validate({"chain": "local", "id": mid, "confirmations": 1}).id == mid


def test_patch() -> None:
    p = MonitorPatch.model_validate({"add_addresses": [CHECKSUMMED], "remove_addresses": []})
    assert p.add_addresses == [LOWER] and p.addresses is None
    with pytest.raises(ValidationError):
        MonitorPatch.model_validate({"chain": "other"})  # chain cannot change
    with pytest.raises(ValidationError):
        MonitorPatch.model_validate({"id": "mon_x"})
    with pytest.raises(ValidationError):
        MonitorPatch.model_validate({"add_addresses": ["0x1234"]})
    with pytest.raises(ValidationError):
        MonitorPatch.model_validate({"min_amount": "1.0"})
