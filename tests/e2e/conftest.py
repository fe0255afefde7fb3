"""End-to-end fixtures: a real Tansu broker, a real anvil chain and a real blockhook worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dev import procs
from dev.devstack import DevConfig, DevStack, ExtraChain
from tests.e2e.flaky_rpc import FlakyRpc
from tests.e2e.receiver import Receiver
from tests.e2e.topicscan import TopicScanner

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def api(
    stack: DevStack, method: str, path: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, Any]:
    """Call the HTTP API as the stack's admin (signed); returns (status, parsed JSON or None)."""
    assert stack.admin is not None, "the stack has no admin key yet"
    return stack.admin.call(method, path, body, raw)


@pytest.fixture(scope="session")
def flaky_rpc() -> Iterator[FlakyRpc]:
    """A misbehaving proxy in front of the `flaky` chain's anvil (started with the stack)."""
    proxy = FlakyRpc(upstream=f"http://127.0.0.1:{FLAKY_ANVIL_PORT}", port=procs.free_port())
    yield proxy.start()
    proxy.stop()


FLAKY_ANVIL_PORT = procs.free_port()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, flaky_rpc: FlakyRpc) -> Iterator[DevStack]:
    """Broker + anvils (a block per transaction, no timer) + one worker, on free ports.

    Chains: `local` (3 confirmations), `second` (2), and `flaky` (2), whose worker reads it
    through a dead URL first and then the misbehaving proxy (fail-over and fault tolerance).
    """
    root = tmp_path_factory.mktemp("stack")
    cfg = DevConfig.on_free_ports(
        root,
        block_time=None,
        confirmations=3,
        finality_depth=16,
        poll_interval_s=0.2,
        extra_chains=[
            ExtraChain("second", 31338, procs.free_port(), confirmations=2),
            ExtraChain(
                "flaky",
                31339,
                FLAKY_ANVIL_PORT,
                confirmations=2,
                rpc_timeout_s=1.0,
                rpc_urls=[f"http://127.0.0.1:{procs.free_port()}", flaky_rpc.url],
            ),
        ],
    )
    s = DevStack(cfg)
    try:
        s.start_infra()
        s.start_worker()
        s.wait_ready()
        s.create_admin_key()
        yield s
    finally:
        s.stop()


SECRET_MARK = b"bhsk_"  # every API key secret starts with it


def assert_no_clear_secrets(
    scanner: TopicScanner, logs: Path, needles: list[bytes] | None = None
) -> None:
    """No API key secret on any topic (read from the beginning) or in any log of the stack:
    by default nothing that starts like one; else none of these exact secrets."""
    needles = needles or [SECRET_MARK]
    hits = scanner.scan(needles)
    assert not hits, f"an API key secret in the clear: {hits[:5]}"
    assert scanner.records > 0, "the scanner read nothing"
    for log in sorted(logs.glob("*.log")):
        text = log.read_bytes()
        assert not any(n in text for n in needles), f"an API key secret in {log}"


@pytest.fixture(scope="session")
def stack_scanner(stack: DevStack) -> TopicScanner:
    return TopicScanner(f"127.0.0.1:{stack.cfg.broker_port}")


@pytest.fixture(autouse=True)
def no_clear_secrets(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test on the shared stack: read every topic, look for key secrets."""
    if "stack" not in request.fixturenames:
        yield
        return
    stack: DevStack = request.getfixturevalue("stack")
    scanner: TopicScanner = request.getfixturevalue("stack_scanner")
    yield
    assert_no_clear_secrets(scanner, stack.cfg.root / "logs")


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


# The custody stack (signer, wallet, funded treasury), once for every module that needs it;
# imported last, as it builds on the fixtures and helpers above.
from tests.e2e.custody import custody  # noqa: E402, F401
