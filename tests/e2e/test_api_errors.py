"""Bad input to the monitors API gets the contract's 4xx error shape; the worker keeps going."""

from __future__ import annotations

from typing import Any

import pytest

from dev.devstack import DevStack, healthz
from tests.e2e.conftest import api

pytestmark = pytest.mark.e2e

GOOD = {
    "chain": "local",
    "addresses": ["0x" + "ab" * 20],
    "webhook": {"url": "http://127.0.0.1:9/hook"},
}


def assert_error(
    status: int, body: Any, want_status: int, code: str | None = None, field: str | None = None
) -> None:
    assert status == want_status, body
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) >= {"code", "message", "field"}
    assert isinstance(err["message"], str) and err["message"]
    if code:
        assert err["code"] == code, err
    if field:
        assert err["field"] == field, err


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**GOOD, "addresses": ["0x1234"]}, "addresses"),
        ({**GOOD, "addresses": ["0x" + "Ab" * 20]}, "addresses"),  # bad EIP-55 checksum
        ({**GOOD, "addresses": "0x" + "ab" * 20}, "addresses"),
        ({**GOOD, "confirmations": "twelve"}, "confirmations"),
        ({**GOOD, "min_amount": 1.5}, "min_amount"),
        ({**GOOD, "direction": "sideways"}, "direction"),
        ({**GOOD, "webhook": {"url": "ftp://example.com/x"}}, "webhook.url"),
        ({**GOOD, "surprise": 1}, "surprise"),
    ],
)
def test_invalid_fields(stack: DevStack, body: dict[str, Any], field: str) -> None:
    status, out = api(stack, "POST", "/v1/monitors", body)
    assert_error(status, out, 422)
    assert out["error"]["field"].startswith(field)


def test_unknown_chain(stack: DevStack) -> None:
    status, out = api(stack, "POST", "/v1/monitors", {**GOOD, "chain": "dogechain"})
    assert_error(status, out, 422, "unknown_chain", "chain")


def test_not_json_and_not_object(stack: DevStack) -> None:
    assert_error(*api(stack, "POST", "/v1/monitors", raw=b"{nope"), 400, "invalid_json")
    assert_error(*api(stack, "POST", "/v1/monitors", raw=b"[1,2]"), 400, "invalid_json")
    assert_error(*api(stack, "POST", "/v1/monitors", raw=b""), 400, "invalid_json")


def test_huge_body(stack: DevStack) -> None:
    raw = b'{"chain": "local", "name": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    assert_error(*api(stack, "POST", "/v1/monitors", raw=raw), 413, "body_too_large")


def test_unknown_monitor_and_route(stack: DevStack) -> None:
    assert_error(*api(stack, "GET", "/v1/monitors/mon_nothere"), 404, "not_found")
    assert_error(*api(stack, "DELETE", "/v1/monitors/mon_nothere"), 404, "not_found")
    assert_error(*api(stack, "GET", "/v1/nothing"), 404, "not_found")


def test_private_webhook_refused_when_not_allowed(stack: DevStack) -> None:
    # dev allows loopback, but never private or link-local (cloud metadata) addresses
    for url in ["http://10.1.2.3/x", "http://169.254.169.254/latest/meta-data"]:
        status, out = api(stack, "POST", "/v1/monitors", {**GOOD, "webhook": {"url": url}})
        assert_error(status, out, 422, "webhook_url_forbidden", "webhook.url")


def test_worker_survives_and_crud_works(stack: DevStack) -> None:
    assert (healthz(stack.cfg.api_url) or {}).get("ready") is True
    status, m = api(stack, "POST", "/v1/monitors", {**GOOD, "name": "crud"})
    assert status == 201
    assert m["id"].startswith("mon_") and m["confirmations"] == 3
    assert api(stack, "GET", f"/v1/monitors/{m['id']}") == (200, m)
    status, patched = api(
        stack,
        "PATCH",
        f"/v1/monitors/{m['id']}",
        {"add_addresses": ["0x" + "cd" * 20], "remove_addresses": GOOD["addresses"]},
    )
    assert status == 200 and patched["addresses"] == ["0x" + "cd" * 20]
    assert patched["webhook"]["secret"] == m["webhook"]["secret"]
    status, page = api(stack, "GET", "/v1/monitors?limit=1000")
    assert status == 200 and m["id"] in [x["id"] for x in page["items"]]
    assert api(stack, "DELETE", f"/v1/monitors/{m['id']}")[0] == 204
    assert api(stack, "GET", f"/v1/monitors/{m['id']}")[0] == 404
