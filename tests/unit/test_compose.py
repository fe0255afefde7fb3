"""docker-compose.yml and deploy/blockhook.toml agree with each other and with Settings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel

from core.settings import CONFIG_ENV, ChainSettings, RetrySettings, Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
TOML = REPO / "deploy" / "blockhook.toml"
CONFIG_IN_CONTAINER = "/etc/blockhook/blockhook.toml"
PREFIX = "BLOCKHOOK_"
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    s = compose["services"]
    assert isinstance(s, dict)
    return s


@pytest.fixture(scope="module")
def toml_data() -> dict[str, Any]:
    with TOML.open("rb") as fh:
        return tomllib.load(fh)


def _env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict (compose allows a mapping or a list of K=V)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(str(item).split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with the variable unset: the default."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", value)


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd]


def _anvil_args(services: dict[str, Any]) -> str:
    anvil = services["anvil"]
    return " ".join([*(anvil.get("entrypoint") or []), *_command(anvil)])


@pytest.fixture
def toml_settings(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No BLOCKHOOK_* variables of the caller's environment; the config is the compose one."""
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv(CONFIG_ENV, str(TOML))
    return monkeypatch


def _host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port


def test_services_exist(services: dict[str, Any]) -> None:
    assert {"kafka", "worker", "anvil"} <= set(services)


def test_kafka_is_apache_kafka_in_kraft_mode(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    assert str(kafka["image"]).startswith("apache/kafka:")
    env = _env(kafka)
    roles = set(env["KAFKA_PROCESS_ROLES"].split(","))
    assert roles == {"broker", "controller"}
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@")
    assert env.get("CLUSTER_ID")
    # Other containers reach the broker by its service name.
    advertised = env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert any(a.endswith("://kafka:9092") for a in advertised)
    names = {lst.split("://", 1)[0] for lst in env["KAFKA_LISTENERS"].split(",")}
    mapped = {p.split(":", 1)[0] for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")}
    assert names <= mapped
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in names


def test_worker_runs_blockhook_worker_with_the_mounted_config(services: dict[str, Any]) -> None:
    worker = services["worker"]
    cmd = _command(worker)
    assert cmd[:2] == ["worker", "--config"] or cmd[:3] == ["blockhook", "worker", "--config"]
    assert cmd[cmd.index("--config") + 1] == CONFIG_IN_CONTAINER
    mounts = [str(v) for v in worker.get("volumes", [])]
    assert any(
        m.split(":")[0] in ("./deploy/blockhook.toml", "deploy/blockhook.toml")
        and m.split(":")[1] == CONFIG_IN_CONTAINER
        for m in mounts
    ), mounts
    assert worker.get("build") is not None
    assert {"kafka", "anvil"} <= set(worker.get("depends_on", {}))


def test_worker_scales_without_fixed_host_ports(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker
    for p in worker.get("ports", []):
        # "8000" (ephemeral host port) is fine; "8000:8000" would clash at --scale worker=3.
        assert ":" not in str(p), p


def test_anvil_listens_on_all_interfaces(services: dict[str, Any]) -> None:
    assert "foundry" in str(services["anvil"]["image"])
    args = _anvil_args(services)
    assert "anvil" in args
    assert "--host 0.0.0.0" in args


def _check_env_name(name: str) -> None:
    parts = name[len(PREFIX) :].lower().split("__")
    model: type[BaseModel] = Settings
    for i, part in enumerate(parts):
        assert part in model.model_fields, f"{name}: {part!r} is not a field of {model.__name__}"
        if i < len(parts) - 1:
            ann = model.model_fields[part].annotation
            assert isinstance(ann, type) and issubclass(ann, BaseModel), (
                f"{name}: {part!r} is not a nested settings model"
            )
            model = ann


def _workers(services: dict[str, Any]) -> list[dict[str, Any]]:
    """The services that run `blockhook worker` (the signer's variables are its own)."""
    return [s for s in services.values() if "worker" in _command(s)]


def test_every_blockhook_env_var_is_a_settings_field(services: dict[str, Any]) -> None:
    names = [n for s in _workers(services) for n in _env(s) if n.startswith(PREFIX)]
    assert names, "the worker should show at least one BLOCKHOOK_* override"
    for name in names:
        assert name != CONFIG_ENV, "the worker gets its config file with --config"
        _check_env_name(name)


def test_env_names_checker_rejects_wrong_names() -> None:
    with pytest.raises(AssertionError):
        _check_env_name("BLOCKHOOK_NO_SUCH_SETTING")
    with pytest.raises(AssertionError):
        _check_env_name("BLOCKHOOK_RETRY__NO_SUCH")
    with pytest.raises(AssertionError):
        _check_env_name("BLOCKHOOK_BROKER__HOST")


def test_toml_keys_are_settings_fields(toml_data: dict[str, Any]) -> None:
    # Settings ignores unknown keys, so a typo would silently fall back to a default.
    assert set(toml_data) <= set(Settings.model_fields)
    assert set(toml_data.get("retry", {})) <= set(RetrySettings.model_fields)
    for chain in toml_data["chains"]:
        assert set(chain) <= set(ChainSettings.model_fields)


def test_toml_loads_through_settings_with_compose_env(
    toml_settings: pytest.MonkeyPatch, services: dict[str, Any]
) -> None:
    plain = Settings()
    assert plain.chains and plain.api_host_port == ("0.0.0.0", 8000)
    for name, value in _env(services["worker"]).items():
        if name.startswith(PREFIX):
            toml_settings.setenv(name, _interpolate(value))
    s = Settings()
    assert s.chains == plain.chains
    assert s.broker == plain.broker


def test_toml_points_at_the_compose_services(
    toml_settings: pytest.MonkeyPatch, services: dict[str, Any]
) -> None:
    s = Settings()

    kafka_env = _env(services["kafka"])
    internal = [
        a.split("://", 1)[1]
        for a in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
        if a.split("://", 1)[1].split(":")[0] == "kafka"
    ]
    for server in s.bootstrap_servers.split(","):
        assert server in internal, (server, internal)
        assert server.split(":")[0] in services

    anvil_cmd = _anvil_args(services)
    port_match = re.search(r"--port[ =](\d+)", anvil_cmd)
    anvil_port = int(port_match.group(1)) if port_match else 8545
    chain_id_match = re.search(r"--chain-id[ =](\d+)", anvil_cmd)
    for chain in s.chains:
        for url in chain.rpc_urls:
            assert _host_port(url) == ("anvil", anvil_port), url
        if chain_id_match:
            assert chain.chain_id == int(chain_id_match.group(1))
    host, port = s.api_host_port
    assert host == "0.0.0.0"
    assert any(str(p).split(":")[-1] == str(port) for p in services["worker"].get("ports", []))


def compose_config(*args: str, file: Path = COMPOSE) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` (Compose's own parser and validator, which `make setup`
    installs; no Docker engine is needed) on a compose file, with the variables
    docker-compose.yml requires set."""
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is not installed: run `make setup`"
    env = {
        **os.environ,
        "BLOCKHOOK_AUTH__MASTER_KEY": "test-only",
        "COMPOSE_PROJECT_NAME": "blockhook",
    }
    return subprocess.run(
        [exe, "-f", str(file), *args, "config"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "profiles", [[], ["--profile", "signer"], ["--profile", "signer", "--profile", "monitoring"]]
)
def test_compose_accepts_the_file_with_each_profile(profiles: list[str]) -> None:
    done = compose_config(*profiles)
    assert done.returncode == 0, done.stderr
    parsed = yaml.safe_load(done.stdout)
    assert {"kafka", "anvil", "worker"} <= set(parsed["services"])
    if "monitoring" in profiles:
        assert {"prometheus", "grafana", "signer"} <= set(parsed["services"])
    worker = parsed["services"]["worker"]
    assert "/healthz" in " ".join(worker["healthcheck"]["test"])


def test_compose_refuses_a_broken_file(tmp_path: Path) -> None:
    """The parser really validates: a misspelt option is refused."""
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(COMPOSE.read_text().replace("stop_grace_period:", "stop_grace_periode:", 1))
    done = compose_config(file=bad)
    assert done.returncode != 0 and "stop_grace_periode" in done.stderr
