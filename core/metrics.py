"""The worker's metrics, declared in one place and served by prometheus-client.

Each metric has fixed label names (prometheus-client escapes label values and checks the
names), so a typo at a call site fails at once instead of making a new series. `/metrics`
renders this registry; nothing else is on it (no process or GC collectors from the default
registry, whose figures a worker's own already give)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Detection.
BLOCKS_PUBLISHED = Counter(
    "blockhook_blocks_published", "blocks published by the follower", ["chain"], registry=REGISTRY
)
FOLLOWER_BLOCK = Gauge(
    "blockhook_follower_block", "last block the follower published", ["chain"], registry=REGISTRY
)
REORGS = Counter("blockhook_reorgs", "reorgs detected", ["chain"], registry=REGISTRY)
DEEP_REORGS = Counter(
    "blockhook_deep_reorgs", "reorgs deeper than finality_depth", ["chain"], registry=REGISTRY
)
RPC_ERRORS = Counter("blockhook_rpc_errors", "failed polls", ["chain"], registry=REGISTRY)
BACKFILL_BLOCKS = Counter(
    "blockhook_backfill_blocks", "blocks re-scanned by backfills", ["chain"], registry=REGISTRY
)
BAD_BLOCKS = Counter("blockhook_bad_blocks", "unreadable block records skipped", registry=REGISTRY)
BAD_MONITORS = Counter(
    "blockhook_bad_monitors", "invalid monitor records skipped", registry=REGISTRY
)
EVENTS = Counter("blockhook_events", "events emitted, by type", ["type"], registry=REGISTRY)
WALLET_ADDRESSES = Counter(
    "blockhook_wallet_addresses", "addresses assigned to customers", registry=REGISTRY
)

# Delivery.
DELIVERIES = Counter(
    "blockhook_deliveries",
    "delivery attempts by outcome (delivered, failed_attempt, dead_letter)",
    ["outcome"],
    registry=REGISTRY,
)
DELIVERED = DELIVERIES.labels(outcome="delivered")
FAILED_ATTEMPTS = DELIVERIES.labels(outcome="failed_attempt")
DEAD_LETTERS = DELIVERIES.labels(outcome="dead_letter")
HANDED_OFF = Counter(
    "blockhook_deliveries_handed_off",
    "first attempts moved to the retry path (slow endpoint)",
    registry=REGISTRY,
)
ATTEMPT_SECONDS = Histogram(
    "blockhook_delivery_attempt_seconds",
    "how long a delivery attempt took, answered or not",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
WEBHOOK_SECONDS = ATTEMPT_SECONDS.labels(kind="webhook")


def render() -> str:
    """Every metric in the Prometheus text exposition format."""
    return generate_latest(REGISTRY).decode()
