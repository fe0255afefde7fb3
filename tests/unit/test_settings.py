"""settings: TOML file (BLOCKHOOK_CONFIG) under BLOCKHOOK_* environment variables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import CONFIG_ENV, ChainSettings, Settings, load_settings

TOML = """
partitions = 2
topic_prefix = "acme."
broker = "kafka://k1:9092;kafka://k2:9092"
api_bind = "0.0.0.0:9000"
allow_loopback_webhooks = true

[retry]
interval_s = 60
max_age_s = 3600

[[chains]]
name = "local"
chain_id = 31337
rpc_urls = ["http://127.0.0.1:8545"]
confirmations = 3
finality_depth = 16

[[chains]]
name = "mainnet"
chain_id = 1
rpc_urls = ["https://a.example", "https://b.example"]
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BLOCKHOOK_* variable from the outer environment; restore whatever tests set."""
    for k in list(os.environ):
        if k.upper().startswith("BLOCKHOOK_"):
            monkeypatch.delenv(k)
    # registered with monkeypatch so that load_settings() writing it is undone too
    monkeypatch.setenv(CONFIG_ENV, "")


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "blockhook.toml"
    p.write_text(text)
    return p


def test_defaults_without_a_file() -> None:
    s = Settings()
    assert s.partitions == 4
    assert s.topic_prefix == "blockhook."
    assert s.topic("events") == "blockhook.events"
    assert s.chains == []
    assert s.retry.interval_s == 300 and s.retry.max_age_s == 86_400
    assert s.retry.timeout_s == 10
    assert s.allow_loopback_webhooks is False and s.allow_private_webhooks is False
    assert s.api_host_port == ("127.0.0.1", 8000)
    assert s.bootstrap_servers == "127.0.0.1:9092"


def test_file_via_blockhook_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(write(tmp_path, TOML)))
    s = Settings()
    assert s.partitions == 2
    assert s.topic("blocks") == "acme.blocks"
    assert s.allow_loopback_webhooks is True
    assert s.retry.interval_s == 60 and s.retry.max_age_s == 3600
    assert s.api_host_port == ("0.0.0.0", 9000)
    assert s.bootstrap_servers == "k1:9092,k2:9092"
    local = s.chain("local")
    assert local is not None
    assert (local.chain_id, local.confirmations, local.finality_depth) == (31337, 3, 16)
    main = s.chain("mainnet")
    assert main is not None and main.rpc_urls == ["https://a.example", "https://b.example"]
    assert (main.confirmations, main.finality_depth, main.native_symbol) == (12, 64, "ETH")
    assert s.chain("nope") is None


def test_env_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(write(tmp_path, TOML)))
    monkeypatch.setenv("BLOCKHOOK_PARTITIONS", "8")
    monkeypatch.setenv("BLOCKHOOK_RETRY__MAX_AGE_S", "100")
    s = Settings()
    assert s.partitions == 8
    assert s.retry.max_age_s == 100
    assert s.retry.interval_s == 60  # the rest of [retry] still from the file
    assert s.topic_prefix == "acme."  # untouched by the environment


def test_env_chains_replace_file_chains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(write(tmp_path, TOML)))
    monkeypatch.setenv(
        "BLOCKHOOK_CHAINS", '[{"name": "base", "chain_id": 8453, "rpc_urls": ["https://x"]}]'
    )
    s = Settings()
    assert [c.name for c in s.chains] == ["base"]


def test_init_overrides_beat_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOCKHOOK_PARTITIONS", "8")
    assert load_settings(write(tmp_path, TOML), partitions=3).partitions == 3


def test_load_settings_with_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, TOML)
    monkeypatch.chdir(tmp_path)
    s = load_settings("blockhook.toml")
    assert s.partitions == 2
    assert os.environ[CONFIG_ENV] == str(p.resolve())  # absolute, for child processes


def test_env_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLOCKHOOK_TOPIC_PREFIX", "x-")
    monkeypatch.setenv("BLOCKHOOK_ALLOW_PRIVATE_WEBHOOKS", "true")
    s = Settings()
    assert s.topic_prefix == "x-" and s.allow_private_webhooks is True


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("BLOCKHOOK_PARTITIONS", "0"),
        ("BLOCKHOOK_PARTITIONS", "many"),
        ("BLOCKHOOK_TOPIC_PREFIX", "bad prefix/"),
        ("BLOCKHOOK_RETRY__TIMEOUT_S", "0"),
    ],
)
def test_bad_env_values_are_refused(monkeypatch: pytest.MonkeyPatch, var: str, value: str):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError):
        Settings()


def chain(**kw) -> dict:
    base = {"name": "local", "chain_id": 31337, "rpc_urls": ["http://127.0.0.1:8545"]}
    base.update(kw)
    return base


def test_finality_depth_below_confirmations_is_refused() -> None:
    with pytest.raises(ValidationError, match="finality_depth must be at least confirmations"):
        ChainSettings(**chain(confirmations=20, finality_depth=10))
    c = ChainSettings(**chain(confirmations=10, finality_depth=10))
    assert c.finality_depth == c.confirmations == 10


def test_finality_depth_below_confirmations_in_a_file(tmp_path: Path, monkeypatch) -> None:
    bad = TOML.replace("finality_depth = 16", "finality_depth = 2")
    monkeypatch.setenv(CONFIG_ENV, str(write(tmp_path, bad)))
    with pytest.raises(ValidationError, match="finality_depth"):
        Settings()


def test_duplicate_chain_names_are_refused(tmp_path: Path, monkeypatch) -> None:
    dup = TOML.replace('name = "mainnet"', 'name = "local"')
    monkeypatch.setenv(CONFIG_ENV, str(write(tmp_path, dup)))
    with pytest.raises(ValidationError, match="chain names must be unique"):
        Settings()


@pytest.mark.parametrize(
    "kw",
    [
        {"name": "Local"},
        {"name": "1chain"},
        {"name": ""},
        {"name": "a" * 33},
        {"name": "with space"},
        {"chain_id": 0},
        {"rpc_urls": []},
        {"confirmations": 0},
        {"poll_interval_s": 0},
    ],
)
def test_bad_chain(kw: dict) -> None:
    with pytest.raises(ValidationError):
        ChainSettings(**chain(**kw))
