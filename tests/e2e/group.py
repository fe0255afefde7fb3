"""Three workers of one group on one embedded broker and anvil, for the end-to-end tests of
several workers (tests/e2e/test_workers.py: access control across workers, fail-over,
rolling restarts).

Worker `a` is the stack's own; `b` and `c` have their own settings files (API port, data
directory), the same group and the production defaults. Six partitions, two per worker."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dev import procs
from dev.devstack import DevConfig, DevStack
from tests.e2e.conftest import assert_no_clear_secrets
from tests.e2e.topicscan import TopicScanner
from tests.e2e.traffic import get_json
from transport.apiclient import ApiClient

NAMES = ("a", "b", "c")


@dataclass
class Group:
    """The stack and its three workers, each with an admin client."""

    stack: DevStack
    clients: dict[str, ApiClient]
    others: dict[str, subprocess.Popen[bytes] | None] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.clients[name].url

    def port(self, name: str) -> int:
        return int(self.url(name).rsplit(":", 1)[1])

    def data_dir(self, name: str) -> Path:
        root = self.stack.cfg.root
        return root / "data" if name == "a" else root / f"data-{name}"

    def log(self, name: str) -> Path:
        root = self.stack.cfg.root / "logs"
        return root / "worker.log" if name == "a" else root / f"worker-{name}.log"

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The last warnings and errors of a worker's log (for a failed test's report)."""
        try:
            text = self.log(name).read_text(errors="replace").splitlines()
        except OSError as exc:
            return f"no log: {exc}"
        picked = [t for t in text if any(w in t for w in ("WARNING", "ERROR", "CRITICAL"))]
        return "\n".join(picked[-lines:])

    def start(self, name: str, env: dict[str, str] | None = None) -> None:
        """Start a worker (not waiting for it)."""
        if name == "a":
            self.stack.start_worker(env)
        else:
            self.others[name] = self.stack.start_other_worker(name, self.port(name), env)

    def kill(self, name: str) -> None:
        """SIGKILL, as `kill -9`."""
        if name == "a":
            self.stack.kill_worker()
        else:
            procs.kill(self.others.pop(name, None))

    def stop(self, name: str) -> None:
        """SIGTERM, and wait for the process to end."""
        if name == "a":
            self.stack.stop_worker()
        else:
            procs.stop(self.others.pop(name, None))

    def wait_ready(self, name: str, timeout_s: float = 120.0) -> None:
        self.stack.wait_ready(timeout_s, url=self.url(name))

    def readyz(self, name: str) -> tuple[int, dict[str, object] | None]:
        return get_json(f"{self.url(name)}/readyz")

    def follower(self, chain: str = "local") -> str | None:
        """The worker that says it follows `chain` (None if none does right now)."""
        found = []
        for name in NAMES:
            _, body = self.readyz(name)
            chains = (body or {}).get("chains") or {}
            if isinstance(chains, dict) and chain in chains:
                found.append(name)
        assert len(found) <= 1, f"{chain} followed by {found}"
        return found[0] if found else None

    def wait_follower(self, chain: str = "local", timeout_s: float = 90.0) -> str:
        deadline = time.monotonic() + timeout_s
        while (name := self.follower(chain)) is None:
            assert time.monotonic() < deadline, f"nobody follows {chain}"
            time.sleep(0.2)
        return name

    def stop_all(self) -> None:
        """Every worker, at once (the stack's own too)."""
        workers = [self.others.pop(name, None) for name in list(self.others)]
        procs.stop_all([*workers, self.stack.worker])
        self.stack.worker = None


def start_group(cfg: DevConfig) -> Group:
    """The stack of `cfg` with its three workers started and ready, each with an admin
    client (the caller stops them: `stop_all`, then the stack's `stop`)."""
    s = DevStack(cfg)
    s.start_infra()
    urls = {name: f"http://127.0.0.1:{procs.free_port()}" for name in NAMES[1:]}
    g = Group(s, {"a": ApiClient(cfg.api_url, "", "")})
    for name in NAMES[1:]:
        g.clients[name] = ApiClient(urls[name], "", "")
    for name in NAMES:  # together: they join the group in one round
        g.start(name)
    for name in NAMES:
        g.wait_ready(name)
    admin = s.create_admin_key()
    clients = {"a": admin}
    for name in NAMES[1:]:
        clients[name] = ApiClient(urls[name], admin.key_id, admin.secret)
    g.clients = clients
    for name in NAMES[1:]:
        s.accepted(clients[name], "/v1/keys?limit=1", 30, f"the admin key on worker {name}")
    return g


def stop_group(g: Group) -> None:
    """Every signer and worker at once, then the broker and anvil."""
    for signer in g.stack.signers.values():
        signer.stop()
    g.stop_all()
    g.stack.stop()


def group_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Group]:
    """The group, started; stopped after the caller's `yield from` ends (a fixture's body)."""
    root = tmp_path_factory.mktemp("group")
    cfg = DevConfig.on_free_ports(root, block_time=None, partitions=6)
    g: Group | None = None
    try:
        g = start_group(cfg)
        yield g
        assert_no_clear_secrets(TopicScanner(f"127.0.0.1:{cfg.broker_port}"), root / "logs")
    finally:
        if g is not None:
            stop_group(g)
