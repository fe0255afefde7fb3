"""The embedded default: broker + anvil (or an existing node) + one worker + the API."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.bootstrap import create_operator
from core.errors import ConfigError
from core.settings import CONFIG_ENV, Settings, load_settings
from dev import procs
from dev.devsigner import DevSigner
from streams.secretbox import new_master_key
from transport.apiclient import ApiClient
from transport.kafkawrite import create_key


@dataclass
class ExtraChain:
    """Another local anvil chain started beside the main one (tests of several chains)."""

    name: str
    chain_id: int
    port: int
    confirmations: int = 2
    finality_depth: int = 16
    rpc_urls: list[str] | None = None  # default: the anvil itself
    rpc_timeout_s: float = 10.0


@dataclass
class DevConfig:
    """What `blockhook dev` (and the end-to-end tests) start."""

    root: Path
    broker_port: int = 9092
    anvil_port: int = 8545
    api_port: int = 8000
    rpc: str | None = None
    block_time: float | None = 1.0
    chain_name: str = "local"
    chain_id: int = 31337
    confirmations: int = 3
    finality_depth: int = 16
    poll_interval_s: float = 0.2
    partitions: int = 4
    extra: dict[str, object] = field(default_factory=dict)
    extra_chains: list[ExtraChain] = field(default_factory=list)
    auth: dict[str, object] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, root: Path, **settings: Any) -> DevConfig:
        """A stack in root whose broker, anvil and API take ports nobody uses (tests and
        benches run beside each other)."""
        ports = {
            "broker_port": procs.free_port(),
            "anvil_port": procs.free_port(),
            "api_port": procs.free_port(),
        }
        return cls(root=root, **{**ports, **settings})

    @property
    def master_key_path(self) -> Path:
        return self.root / "master.key"

    @property
    def admin_key_path(self) -> Path:
        return self.root / "admin-key.json"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def rpc_url(self) -> str:
        return self.rpc or f"http://127.0.0.1:{self.anvil_port}"

    def toml(self, api_port: int | None = None, data_dir: Path | None = None) -> str:
        """The worker's settings file (another worker of the same stack: its own API port
        and data directory)."""
        lines = [
            f'broker = "kafka://127.0.0.1:{self.broker_port}"',
            f'data_dir = "{data_dir or self.root / "data"}"',
            f"partitions = {self.partitions}",
            f'api_bind = "127.0.0.1:{api_port or self.api_port}"',
            "allow_loopback_webhooks = true",
        ]
        for k, v in self.extra.items():
            lines.append(f"{k} = {json.dumps(v)}")
        lines += ["", "[auth]", f'master_key_file = "{self.master_key_path}"']
        for k, v in self.auth.items():
            lines.append(f"{k} = {json.dumps(v)}")
        lines += [
            "",
            "[[chains]]",
            f'name = "{self.chain_name}"',
            f"chain_id = {self.chain_id}",
            f'rpc_urls = ["{self.rpc_url}"]',
            f"confirmations = {self.confirmations}",
            f"finality_depth = {self.finality_depth}",
            f"poll_interval_s = {self.poll_interval_s}",
            "start_block = 0" if not self.rpc else "",
        ]
        for c in self.extra_chains:
            lines += [
                "",
                "[[chains]]",
                f'name = "{c.name}"',
                f"chain_id = {c.chain_id}",
                f"rpc_urls = {json.dumps(c.rpc_urls or [f'http://127.0.0.1:{c.port}'])}",
                f"rpc_timeout_s = {c.rpc_timeout_s}",
                f"confirmations = {c.confirmations}",
                f"finality_depth = {c.finality_depth}",
                f"poll_interval_s = {self.poll_interval_s}",
                "start_block = 0",
            ]
        return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (it holds a key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def healthz(url: str) -> dict[str, object] | None:
    """The API's /healthz answer, or None if it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
            data = json.loads(r.read())
            return data if isinstance(data, dict) else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


class DevStack:
    """Starts and stops every process of the embedded default."""

    def __init__(self, cfg: DevConfig) -> None:
        self.cfg = cfg
        self.broker: subprocess.Popen[bytes] | None = None
        self.anvil: subprocess.Popen[bytes] | None = None
        self.extra_anvils: list[subprocess.Popen[bytes]] = []
        self.worker: subprocess.Popen[bytes] | None = None
        self.config_path = cfg.root / "blockhook.toml"
        self.admin: ApiClient | None = None
        self.signers: dict[str, DevSigner] = {}

    def start_infra(self) -> None:
        """A fresh data dir (the broker keeps nothing), the broker, and anvil."""
        c = self.cfg
        if c.root.exists():
            shutil.rmtree(c.root)
        (c.root / "logs").mkdir(parents=True)
        write_private(c.master_key_path, new_master_key() + "\n")
        self.config_path.write_text(c.toml())
        self.broker = procs.start_broker(c.broker_port, c.root / "logs/broker.log")
        if c.rpc is None:
            self.anvil = procs.start_anvil(
                c.anvil_port, c.root / "logs/anvil.log", c.block_time, c.chain_id
            )
        for x in c.extra_chains:
            self.extra_anvils.append(
                procs.start_anvil(
                    x.port, c.root / f"logs/anvil-{x.name}.log", c.block_time, x.chain_id
                )
            )

    def start_worker(self, env: dict[str, str] | None = None) -> None:
        """One worker process (the logs of all its runs go to one file); `env` adds to its
        environment (tests: BLOCKHOOK_FAULTS, settings)."""
        _port_free(self.cfg.api_port)
        self.worker = procs.start_worker(self.config_path, self.cfg.root / "logs/worker.log", env)

    def other_config(self, name: str, api_port: int) -> Path:
        """The settings file of another worker of the same group (its own API port and data
        directory), written if it is not there yet."""
        c = self.cfg
        path = c.root / f"blockhook-{name}.toml"
        if not path.exists():
            path.write_text(c.toml(api_port, c.root / f"data-{name}"))
        return path

    def start_other_worker(
        self, name: str, api_port: int, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Another worker of the same group, with its own API port, data dir and log; the
        caller stops it (procs.stop) and waits for it with `wait_ready(url=...)`."""
        _port_free(api_port)
        path = self.other_config(name, api_port)
        return procs.start_worker(path, self.cfg.root / f"logs/worker-{name}.log", env)

    def wait_ready(
        self,
        timeout_s: float = 120.0,
        url: str | None = None,
        proc: subprocess.Popen[bytes] | None = None,
        name: str | None = None,
    ) -> None:
        """Until the API says the worker has its partitions and its view is caught up; the
        first worker's, or the one at `url` (`proc` and `name`: another worker's process and
        log name, so its exit ends the wait at once)."""
        deadline = time.monotonic() + timeout_s
        watched = [(self.worker, "worker.log")] + ([(proc, f"worker-{name}.log")] if proc else [])
        while time.monotonic() < deadline:
            for p, log_name in watched:
                if p is not None and p.poll() is not None:
                    log = self.cfg.root / "logs" / log_name
                    raise ConfigError(f"worker exited with {p.returncode}; see {log}")
            h = healthz(url or self.cfg.api_url)
            if h and h.get("ready"):
                return
            time.sleep(0.3)
        raise ConfigError(f"worker not ready after {timeout_s:g}s; see {self.cfg.root}/logs/")

    def _settings(self) -> Settings:
        """The worker's settings, read without changing this process's own."""
        old = os.environ.get(CONFIG_ENV)
        try:
            return load_settings(self.config_path)
        finally:
            if old is None:
                os.environ.pop(CONFIG_ENV, None)
            else:
                os.environ[CONFIG_ENV] = old

    def new_key(self, principal: str, roles: list[str]) -> tuple[str, str]:
        """A key made straight on the keys topic (no API needed): its id and secret."""
        record, secret = asyncio.run(create_key(self._settings(), principal, roles))
        return str(record["id"]), secret

    def new_operator(
        self, name: str, roles: list[str], password: str | None = None, reset: bool = False
    ) -> str:
        """A console operator made straight on its topic; its password."""
        return asyncio.run(create_operator(self._settings(), name, roles, password, reset))

    def create_console_operator(self, name: str = "admin") -> tuple[str, str]:
        """The dev stack's operator (admin and approver, so a newcomer can try everything):
        the console's URL and its new password, also in console.json (owner-only)."""
        password = self.new_operator(name, ["admin", "approver"])
        url = f"{self.cfg.api_url}/admin"
        doc = {"url": url, "operator": name, "password": password}
        write_private(self.cfg.root / "console.json", json.dumps(doc) + "\n")
        return url, password

    def accepted(self, client: ApiClient, probe: str, timeout_s: float, what: str) -> ApiClient:
        """The client, once the worker answers its signed GET of `probe` with 200 (the keys
        view has its key)."""
        deadline = time.monotonic() + timeout_s
        while client.call("GET", probe)[0] != 200:
            if time.monotonic() > deadline:
                raise ConfigError(f"the worker does not accept {what}; see {self.cfg.root}/logs/")
            time.sleep(0.1)
        return client

    def new_client(
        self,
        principal: str,
        roles: list[str],
        probe: str = "/v1/withdrawals?limit=1",
        timeout_s: float = 30.0,
    ) -> ApiClient:
        """A new key of `principal` with `roles`, as a client the worker accepts (`probe`
        must be a path those roles may read)."""
        key_id, secret = self.new_key(principal, roles)
        client = ApiClient(self.cfg.api_url, key_id, secret)
        return self.accepted(client, probe, timeout_s, f"the key of {principal}")

    def create_admin_key(self, timeout_s: float = 30.0) -> ApiClient:
        """An admin key for this stack, written to admin-key.json (owner-only), once the
        worker accepts it."""
        key_id, secret = self.new_key("dev-admin", ["admin"])
        client = ApiClient(self.cfg.api_url, key_id, secret)
        doc = {"key_id": client.key_id, "secret": secret, "url": client.url}
        write_private(self.cfg.admin_key_path, json.dumps(doc) + "\n")
        self.admin = self.accepted(client, "/v1/keys?limit=1", timeout_s, "the admin key")
        return self.admin

    def signer_wallet(self, chain: str = "local") -> dict[str, Any] | None:
        """The wallet a signer reported for `chain`, once the API shows it (needs the admin
        key)."""
        assert self.admin is not None, "the stack has no admin key yet"
        status, listed = self.admin.call("GET", "/v1/wallets?limit=1000")
        if status != 200:
            raise ConfigError(f"GET /v1/wallets answered {status}: {listed}")
        wallets = listed["items"]
        return next(
            (w for w in wallets if w.get("source") == "signer" and w["chain"] == chain), None
        )

    def start_signer(
        self, name: str = "signer", policy: Path | None = None, url: str | None = None
    ) -> DevSigner:
        """A blockhook-signer with a throwaway keystore and its own `signer` key (made once
        per name; a restart keeps both), talking to `url` (default: the stack's worker)."""
        signer = self.signers.get(name)
        if signer is None:
            signer = self.signers[name] = DevSigner(self.cfg.root, name)
            signer.key_id, signer.secret = self.new_key(f"dev-{name}", ["signer"])
        signer.start(url or self.cfg.api_url, signer.key_id, signer.secret, policy)
        return signer

    def stop_worker(self) -> None:
        procs.stop(self.worker)
        self.worker = None

    def kill_worker(self) -> None:
        procs.kill(self.worker)
        self.worker = None

    def stop(self) -> None:
        """Stop everything, signers and worker first."""
        for signer in self.signers.values():
            signer.stop()
        procs.stop(self.worker)
        procs.stop(self.anvil, 5)
        for a in self.extra_anvils:
            procs.stop(a, 5)
        procs.stop(self.broker, 5)


def _port_free(port: int) -> None:
    """A clear error now rather than a worker that exits on a port in use."""
    if procs.port_open("127.0.0.1", port):
        raise ConfigError(f"port {port} is in use: choose another with --api-port")
