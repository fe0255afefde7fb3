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
    cfg = DevConfig(
        root=root,
        broker_port=procs.free_port(),
        anvil_port=procs.free_port(),
        api_port=procs.free_port(),
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


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()
