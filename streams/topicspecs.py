"""The one registry of blockhook's topics: name, partitions, compaction, contract or internal.

Topic creation at start-up (blockhook/admin.py) and the Faust declarations
(faust_app/topics.py) both read it, and a test checks that docs/operations.md lists each one,
so the three cannot drift apart. Names are without the configured prefix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streams.retry import TIERS_S, tier_topic_name

Kind = Literal["contract", "internal"]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic. `partitions` None means the settings' `partitions` (every topic that is
    co-partitioned with a table or another stream must have that count)."""

    name: str
    kind: Kind
    compacted: bool
    key: str
    value: str
    partitions: int | None = None
    retention_ms: int | None = None

    def configs(self, max_message_bytes: int) -> dict[str, str]:
        """The topic configs it is created with."""
        cfg = {"max.message.bytes": str(max_message_bytes)}
        if self.compacted:
            cfg["cleanup.policy"] = "compact"
        if self.retention_ms is not None:
            cfg["retention.ms"] = str(self.retention_ms)
        return cfg


def _tier(seconds: int) -> TopicSpec:
    return TopicSpec(
        tier_topic_name(seconds),
        "internal",
        False,
        "monitor id",
        f"delivery jobs waiting {seconds} s (FIFO)",
    )


TOPICS: tuple[TopicSpec, ...] = (
    # The contract: users publish to, or consume from, these.
    TopicSpec("monitors", "contract", True, "monitor id", "monitor JSON, or null to delete"),
    TopicSpec(
        "monitors.addresses",
        "contract",
        True,
        "monitor id:chunk number",
        "a chunk of a monitor's addresses, or null to delete it",
    ),
    TopicSpec("wallets", "contract", True, "wallet id", "wallet JSON"),
    TopicSpec("blocks", "contract", False, "chain name", "normalised blocks, reorg markers"),
    TopicSpec("events", "contract", False, "watched address", "event JSON"),
    TopicSpec("deliveries.dlq", "contract", False, "event id", "event and its attempts"),
    TopicSpec("audit", "contract", False, "principal", "audit record, hash-chained", 1),
    TopicSpec("withdrawals", "contract", True, "withdrawal id", "latest withdrawal record"),
    # Internal: the pipeline's own streams; free to change between versions.
    TopicSpec("follower", "internal", False, "chain name", "ticks that drive the followers"),
    TopicSpec("backfill", "internal", False, "chain name", "block ranges to re-scan"),
    # A record a second per chain at most; compacted to the latest, so one partition will do.
    TopicSpec(
        "heads",
        "internal",
        True,
        "chain name",
        "each follower's last block published, the node's head and its counts",
        1,
    ),
    TopicSpec("monitors.applied", "internal", True, "monitor id", "monitor digest applied"),
    TopicSpec("transfers", "internal", False, "by partition", "decoded transfers, watch updates"),
    TopicSpec("deliveries", "internal", False, "by partition", "delivery jobs, first attempts"),
    TopicSpec("deliveries.retry", "internal", False, "monitor id", "jobs of earlier versions"),
    *(_tier(t) for t in TIERS_S),
    TopicSpec("deliveries.log", "internal", True, "delivery id", "latest state of a delivery"),
    TopicSpec("wallets.requests", "internal", False, "wallet id", "address requests"),
    TopicSpec("wallets.addresses", "internal", True, "wallet_id:user_ref", "assigned address"),
    TopicSpec("sessions", "internal", True, "session id", "deposit sessions"),
    TopicSpec("keys", "internal", True, "key id", "API keys, secrets sealed", 1),
    TopicSpec("keys.usage", "internal", True, "key id", "when a key was last used", 1),
    TopicSpec("audit.requests", "internal", False, "principal", "audit entries to chain", 1),
    TopicSpec(
        "withdrawals.commands",
        "internal",
        False,
        "chain:sender",
        "withdrawal commands; the partition of the sender owns its nonces",
    ),
    TopicSpec("withdrawals.batches", "internal", True, "batch id", "latest batch record"),
    TopicSpec(
        "withdrawals.decisions",
        "internal",
        False,
        "command id",
        "what each command did, for the API that waits on it",
        retention_ms=3_600_000,
    ),
    TopicSpec(
        "withdrawals.signing",
        "internal",
        True,
        "signing request id",
        "signing requests waiting for the signer, null once answered",
    ),
    TopicSpec(
        "withdrawals.txs",
        "internal",
        True,
        "withdrawal id",
        "the signed transaction, kept before it is broadcast",
    ),
    TopicSpec("operators", "internal", True, "operator name", "console operators", 1),
    TopicSpec(
        "console.sessions",
        "internal",
        True,
        "session id (a digest)",
        "console sessions: operator, expiry, signed out",
        1,
    ),
    # Lock-out looks back minutes; a week keeps the trail for an investigation.
    TopicSpec(
        "console.signins",
        "internal",
        False,
        "operator name",
        "console sign-in attempts, for the lock-out",
        1,
        retention_ms=7 * 86_400_000,
    ),
    # A day of idempotency keys, plus an hour; the fold reads it whole at start.
    TopicSpec(
        "auth.claims",
        "internal",
        False,
        "principal",
        "claims of changes (nonce, idempotency key) and first answers (sealed)",
        retention_ms=25 * 3_600_000,
    ),
    # Reads' nonces matter for 300 s: a short retention keeps a busy API's start quick.
    TopicSpec(
        "auth.nonces",
        "internal",
        False,
        "principal",
        "nonces of reads, so every worker refuses their replays",
        retention_ms=15 * 60_000,
    ),
)

BY_NAME: dict[str, TopicSpec] = {t.name: t for t in TOPICS}


def spec(name: str) -> TopicSpec:
    """The registered topic of that name; KeyError for a name nobody registered."""
    return BY_NAME[name]
