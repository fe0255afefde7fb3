"""Settings: one class, read from a TOML file and BLOCKHOOK_* environment variables."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.errors import ConfigError

CONFIG_ENV = "BLOCKHOOK_CONFIG"
_CHAIN_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class ChainSettings(BaseModel):
    """One EVM chain: where to read it and how deep a block must be to trust it."""

    name: str
    chain_id: int = Field(gt=0)
    rpc_urls: list[str] = Field(min_length=1)
    confirmations: int = Field(default=12, ge=1, le=10_000)
    finality_depth: int = Field(default=64, ge=1, le=10_000)
    poll_interval_s: float = Field(default=1.0, gt=0, le=600)
    start_block: int | None = Field(default=None, ge=0)
    max_blocks_per_poll: int = Field(default=50, ge=1, le=10_000)
    rpc_timeout_s: float = Field(default=10.0, gt=0, le=300)
    native_symbol: str = "ETH"
    # A testnet chain accepts tpub keys beside xpub; a mainnet one only xpub.
    testnet: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _CHAIN_NAME.match(v):
            raise ValueError("chain name must be lower-case letters, digits, '-' or '_'")
        return v

    @model_validator(mode="after")
    def _depth(self) -> ChainSettings:
        if self.finality_depth < self.confirmations:
            raise ValueError("finality_depth must be at least confirmations")
        return self


class RetrySettings(BaseModel):
    """Default webhook retry policy: every interval_s until max_age_s, or explicit delays."""

    interval_s: float = Field(default=300.0, gt=0)
    max_age_s: float = Field(default=86_400.0, gt=0)
    delays_s: list[float] | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class DeliverySettings(BaseModel):
    """How deliveries are made (webhooks and the python/command handlers)."""

    batch: int = Field(default=500, ge=1, le=10_000)
    concurrency: int = Field(default=256, ge=1, le=10_000)
    per_host: int = Field(default=16, ge=1, le=1000)
    # A first attempt not answered within this goes on to the retry path at once (it is
    # attempted there with the full timeout) and its host is kept off the main path while slow.
    fast_timeout_s: float = Field(default=2.0, gt=0, le=120)
    secret_rotation_s: float = Field(default=86_400.0, ge=0)
    python_handlers: list[str] = Field(default_factory=list)
    command_handlers: list[str] = Field(default_factory=list)
    command_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    log_max: int = Field(default=100_000, ge=100)
    # Messages a retry tier holds in memory; past this it stops fetching from its partitions
    # (and resumes at half), so a long backlog costs neither memory nor the other streams.
    retry_queue: int = Field(default=2_000, ge=10, le=1_000_000)


class AuthSettings(BaseModel):
    """Access control: the master key that seals API secrets, proxies, rate limits."""

    # Off only for experiments on loopback: `blockhook worker` refuses it on any other address.
    enabled: bool = True
    # base64 of 32 random bytes (`blockhook keys master-key` prints one); or a file holding it.
    master_key: SecretStr | None = None
    master_key_file: Path | None = None
    # Keys sealed under these still open (during a rotation); new ones use master_key.
    previous_master_keys: list[SecretStr] = Field(default_factory=list)
    # Peers whose X-Forwarded-For is believed (CIDR rules).
    trusted_proxies: list[str] = Field(default_factory=list)
    rate_limit_per_s: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    idempotency_ttl_s: float = Field(default=86_400.0, ge=60)
    # How long a state-changing request waits for its claim to come back from the log, and
    # for the first answer of an idempotency key another request is still working on.
    claim_timeout_s: float = Field(default=15.0, gt=0, le=300)

    def master_key_text(self) -> str | None:
        """The current master key's base64 text (from the setting or its file), or None."""
        if self.master_key is not None:
            return self.master_key.get_secret_value()
        if self.master_key_file is not None:
            try:
                return self.master_key_file.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read auth.master_key_file: {exc.strerror}") from None
        return None


class WithdrawalSettings(BaseModel):
    """Withdrawals: four eyes, fees, and how often transactions are looked after."""

    # Distinct approvers (never the requester) a withdrawal needs; never below 2.
    approvals_required: int = Field(default=2, ge=2, le=20)
    # EIP-1559 fee cap in wei per gas: the platform never offers more.
    max_fee_per_gas: int = Field(default=500 * 10**9, ge=1)
    min_priority_fee: int = Field(default=0, ge=0)
    # How often each partition's sent transactions are checked (receipts, confirmations).
    poll_interval_s: float = Field(default=1.0, gt=0, le=600)
    # A sent transaction without a receipt goes out again (the same bytes) this often.
    rebroadcast_s: float = Field(default=30.0, gt=0)
    # A signing request not answered goes out again this often (the signer sees it again).
    resign_s: float = Field(default=30.0, gt=0)
    # How long the API waits for the agent to decide a command.
    decide_timeout_s: float = Field(default=15.0, gt=0, le=300)


class ConsoleSettings(BaseModel):
    """The admin console at /admin: sessions, sign-in lock-out and cookies."""

    # A session ends this long after sign-in, used or not.
    session_ttl_s: float = Field(default=8 * 3600.0, ge=60, le=30 * 86_400)
    # This many failed sign-ins within the window lock the operator out for lockout_s.
    lockout_failures: int = Field(default=5, ge=1, le=1000)
    lockout_window_s: float = Field(default=900.0, gt=0)
    lockout_s: float = Field(default=900.0, gt=0)
    # Cookies carry Secure (browsers accept them on http://localhost and 127.0.0.1 too).
    secure_cookies: bool = True
    # Password hashes verified at once (argon2 takes 64 MiB and tens of ms each).
    hash_concurrency: int = Field(default=2, ge=1, le=64)


class Settings(BaseSettings):
    """All of blockhook's settings. Environment beats file beats default."""

    model_config = SettingsConfigDict(
        env_prefix="BLOCKHOOK_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    broker: str = "kafka://127.0.0.1:9092"
    topic_prefix: str = "blockhook."
    app_id: str = "blockhook"
    data_dir: Path = Path(".blockhook/data")
    partitions: int = Field(default=4, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1, le=16)
    chains: list[ChainSettings] = Field(default_factory=list)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    withdrawals: WithdrawalSettings = Field(default_factory=WithdrawalSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    api_bind: str = "127.0.0.1:8000"
    api_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    allow_private_webhooks: bool = False
    allow_loopback_webhooks: bool = False
    rebalance_timeout_s: float = Field(default=60.0, gt=0)
    # A worker that stops heart-beating (killed, frozen, cut off) keeps its partitions this
    # long before the group moves them (docs/operations.md: fail-over).
    session_timeout_s: float = Field(default=10.0, ge=1, le=300)
    # A table recovery that reads nothing for this long is started again (and /readyz says so).
    recovery_stall_s: float = Field(default=30.0, gt=0, le=3600)
    fetch_max_wait_ms: int = Field(default=100, ge=1, le=5000)
    # Blocks the decode stage takes at once (one transfers message per partition per batch).
    decode_batch_blocks: int = Field(default=100, ge=1, le=10_000)
    log_level: str = "info"
    # "text" (one line per record) or "json" (one JSON object per line, for log shippers).
    log_format: Literal["text", "json"] = "text"
    # Base of checkout_url (default: the address the API was called on).
    public_url: str | None = None
    wallet_assign_timeout_s: float = Field(default=30.0, gt=0, le=600)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get(CONFIG_ENV)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(path)))
        return tuple(sources)

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z0-9._-]*$", v):
            raise ValueError("topic_prefix may hold only letters, digits, '.', '_' and '-'")
        return v

    @field_validator("api_bind")
    @classmethod
    def _bind(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535 or host.endswith(":"):
            raise ValueError("api_bind is host:port, like 127.0.0.1:8000 or [::1]:8000")
        return v

    @model_validator(mode="after")
    def _unique_chains(self) -> Settings:
        names = [c.name for c in self.chains]
        if len(names) != len(set(names)):
            raise ValueError("chain names must be unique")
        return self

    def chain(self, name: str) -> ChainSettings | None:
        """The chain called name, or None."""
        for c in self.chains:
            if c.name == name:
                return c
        return None

    def topic(self, name: str) -> str:
        """The full name of a topic (prefix + name)."""
        return f"{self.topic_prefix}{name}"

    @property
    def bootstrap_servers(self) -> str:
        """host:port list for plain aiokafka clients."""
        return ",".join(u.split("://", 1)[-1] for u in self.broker.split(";"))

    @property
    def api_host_port(self) -> tuple[str, int]:
        host, _, port = self.api_bind.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from the given TOML file (or $BLOCKHOOK_CONFIG) and the environment."""
    if config is not None:
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    return Settings(**overrides)
