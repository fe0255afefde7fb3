"""Fuzzing the whole API from its own OpenAPI document (schemathesis generates the requests,
signed here with a valid admin key): no 5xx, no worker crash, every error in the contract's
shape. Its own stack, so thousands of generated monitors and keys bother no other test."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation.case import Case

from dev.devstack import DevConfig, DevStack, healthz
from streams.reqsign import sign_headers
from tests.e2e.conftest import assert_no_clear_secrets
from tests.e2e.topicscan import TopicScanner

REQUESTS = 1000
MINTED: list[str] = []  # every key secret made on the fuzz stack


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    root = tmp_path_factory.mktemp("fuzz")
    cfg = DevConfig.on_free_ports(
        root,
        block_time=None,
        auth={"rate_limit_per_s": 10000, "rate_limit_burst": 10000},
    )
    s = DevStack(cfg)
    try:
        s.start_infra()
        s.start_worker()
        s.wait_ready()
        admin = s.create_admin_key()
        MINTED.append(admin.secret)
        yield s
        # The exact secrets: generated text may contain `bhsk_` anywhere (hypothesis draws on
        # the constants of the code it tests), in an idempotency key for one.
        scanner = TopicScanner(f"127.0.0.1:{cfg.broker_port}")
        assert_no_clear_secrets(scanner, root / "logs", [m.encode() for m in MINTED])
    finally:
        s.stop()


def send(session: requests.Session, stack: DevStack, case: Case) -> requests.Response:
    """The generated request, signed over exactly the path, query and body that go out."""
    assert stack.admin is not None
    kwargs = case.as_transport_kwargs(base_url=stack.cfg.api_url)
    kwargs.pop("timeout", None)
    kwargs.pop("allow_redirects", None)
    kwargs.pop("verify", None)
    prepared = session.prepare_request(requests.Request(**kwargs))
    body = prepared.body or b""
    raw = body.encode() if isinstance(body, str) else body
    assert isinstance(raw, bytes)
    path = prepared.path_url
    prepared.headers.update(
        sign_headers(
            stack.admin.key_id,
            stack.admin.secret,
            str(prepared.method),
            path,
            raw,
            time.time(),
        )
    )
    return session.send(prepared, timeout=30, allow_redirects=False)


def check_answer(resp: requests.Response, case: Case) -> None:
    """No 5xx; an error is the contract's `{"error": {"code", "message", "field"}}` (but
    on the checkout page, HTML for people)."""
    where = f"{case.method} {resp.request.path_url}"
    assert resp.status_code < 500, f"{where}: {resp.status_code} {resp.text[:500]}"
    html = resp.headers.get("content-type", "").startswith("text/html")
    if html:  # the checkout page, for people: its 404 is a page too
        assert resp.request.path_url.startswith("/checkout/"), where
    elif resp.status_code >= 400:
        try:
            data = resp.json()
        except ValueError:
            raise AssertionError(
                f"{where}: {resp.status_code} not JSON: {resp.text[:300]!r}"
            ) from None
        assert set(data) == {"error"}, f"{where}: {data}"
        err = data["error"]
        assert set(err) == {"code", "message", "field"}, f"{where}: {data}"
        assert isinstance(err["code"], str) and err["code"], f"{where}: {data}"
        assert isinstance(err["message"], str), f"{where}: {data}"
        assert err["field"] is None or isinstance(err["field"], str), f"{where}: {data}"
    elif resp.content and "json" in resp.headers.get("content-type", ""):
        json.loads(resp.content)


def test_fuzz_the_api_from_its_openapi_document(fuzz_stack: DevStack) -> None:
    doc = requests.get(fuzz_stack.cfg.api_url + "/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(doc)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    statuses: Counter[int] = Counter()
    seen: Counter[str] = Counter()
    session = requests.Session()
    # Each route its share in turn, not a drawn route per request: hypothesis's integers
    # favour the ends of a range, and a drawn route went unvisited in 1,000 requests.
    share = REQUESTS // len(operations)
    for op in operations:

        @settings(
            max_examples=share,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(op.as_strategy())
        def one(case: Any) -> None:
            resp = send(session, fuzz_stack, case)
            statuses[resp.status_code] += 1
            seen[case.operation.label] += 1
            check_answer(resp, case)
            if resp.status_code == 201 and resp.request.path_url == "/v1/keys":
                MINTED.append(resp.json()["secret"])

        one()
    # Routes without parameters have one request to make; the others make their share.
    assert sum(statuses.values()) >= REQUESTS * 3 // 4, statuses
    assert len(seen) == len(operations), set(op.label for op in operations) - set(seen)
    assert statuses[401] == 0, statuses  # every request was signed right
    assert fuzz_stack.worker is not None and fuzz_stack.worker.poll() is None, "worker died"
    h = healthz(fuzz_stack.cfg.api_url)
    assert h is not None and h.get("ready"), h
    assert len(MINTED) > 1, "no key was made: the scan for secrets proves little"
    counts = dict(sorted(statuses.items()))
    print(f"fuzz: {sum(counts.values())} requests, statuses {counts}, keys {len(MINTED) - 1}")
