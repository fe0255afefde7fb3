"""The worker's metrics, declared in one place and served by prometheus-client.

Each metric has fixed label names (prometheus-client escapes label values and checks the
names), so a typo at a call site fails at once instead of making a new series. `/metrics`
renders this registry; nothing else is on it (no process or GC collectors from the default
registry, whose figures a worker's own already give). docs/operations.md lists every metric
with its labels, and a unit test keeps that list and this module the same."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LONG_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)

# Detection.
BLOCKS_PUBLISHED = Counter(
    "blockhook_blocks_published", "blocks published by the follower", ["chain"], registry=REGISTRY
)
TRANSFERS_PUBLISHED = Counter(
    "blockhook_transfers_published",
    "value-carrying transactions and transfer logs in the blocks published",
    ["chain"],
    registry=REGISTRY,
)
FOLLOWER_BLOCK = Gauge(
    "blockhook_follower_block", "last block the follower published", ["chain"], registry=REGISTRY
)
NODE_HEAD = Gauge(
    "blockhook_node_head", "the node's head block as last polled", ["chain"], registry=REGISTRY
)
HEAD_LAG = Gauge(
    "blockhook_head_lag_blocks",
    "blocks between the node's head and the last block published",
    ["chain"],
    registry=REGISTRY,
)
PUBLISH_DELAY = Histogram(
    "blockhook_block_publish_delay_seconds",
    "from a block's timestamp to its publication by the follower",
    ["chain"],
    buckets=_LONG_SECONDS,
    registry=REGISTRY,
)
POLL_SECONDS = Histogram(
    "blockhook_follower_poll_seconds",
    "how long one poll of the node took (head, blocks, receipts, publishing)",
    ["chain"],
    buckets=_SECONDS,
    registry=REGISTRY,
)
POLL_FAILURES = Counter(
    "blockhook_follower_poll_failures",
    "polls that failed on every RPC URL (retried at the next tick)",
    ["chain"],
    registry=REGISTRY,
)
FOLLOWS = Gauge(
    "blockhook_follows",
    "1 for each chain this worker follows (owns the chain's follower partition)",
    ["chain"],
    registry=REGISTRY,
)
REORGS = Counter("blockhook_reorgs", "reorgs detected", ["chain"], registry=REGISTRY)
REORG_DEPTH = Histogram(
    "blockhook_reorg_depth_blocks",
    "blocks orphaned by each reorg",
    ["chain"],
    buckets=(1, 2, 3, 5, 8, 13, 21, 34, 64, 128, 256),
    registry=REGISTRY,
)
DEEP_REORGS = Counter(
    "blockhook_deep_reorgs", "reorgs deeper than finality_depth", ["chain"], registry=REGISTRY
)
RPC_ERRORS = Counter(
    "blockhook_rpc_errors",
    "failed JSON-RPC requests, by endpoint (scheme, host and port; never the path or key)",
    ["chain", "endpoint"],
    registry=REGISTRY,
)
BACKFILL_BLOCKS = Counter(
    "blockhook_backfill_blocks", "blocks re-scanned by backfills", ["chain"], registry=REGISTRY
)
BAD_BLOCKS = Counter("blockhook_bad_blocks", "unreadable block records skipped", registry=REGISTRY)
BAD_MONITORS = Counter(
    "blockhook_bad_monitors", "invalid monitor records skipped", registry=REGISTRY
)
EVENTS = Counter("blockhook_events", "events emitted, by type", ["type"], registry=REGISTRY)
HELD_COMMITS = Counter(
    "blockhook_held_commits",
    "warnings that a partition's commit stayed held below a message taken and not "
    "acknowledged while later ones were (it is read again at the next rebalance or restart)",
    registry=REGISTRY,
)
FETCH_ORDER = Counter(
    "blockhook_fetch_order",
    "messages the fetch loop would have handed over out of offset order, by what was done: "
    "reread (the partition read again from the expected offset), gap (a real gap let "
    "through), read_offset (a message Faust would have dropped, handed over)",
    ["kind"],
    registry=REGISTRY,
)
STALE_ACKS = Counter(
    "blockhook_stale_acks",
    "acknowledgements of messages fetched before a rebalance, not counted (the messages are "
    "read again from the committed offset)",
    registry=REGISTRY,
)
UNMATCHED_ROUTED = Counter(
    "blockhook_unmatched_routed_transfers",
    "routed transfers no monitor of the tracker's partition accepted (filtered assets, "
    "removed monitors, or a watch index that disagrees with decode's filter)",
    registry=REGISTRY,
)
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
    buckets=_SECONDS,
    registry=REGISTRY,
)
WEBHOOK_SECONDS = ATTEMPT_SECONDS.labels(kind="webhook")
DELIVERY_LATENCY = Histogram(
    "blockhook_delivery_latency_seconds",
    "from the event's block timestamp to its successful delivery, by event type",
    ["type"],
    buckets=_LONG_SECONDS,
    registry=REGISTRY,
)
RETRY_QUEUED = Gauge(
    "blockhook_retry_queue_depth",
    "delivery jobs a retry tier of this worker holds, waiting for their time",
    ["tier"],
    registry=REGISTRY,
)

# Withdrawals.
WITHDRAWALS = Counter(
    "blockhook_withdrawals",
    "withdrawals reaching each status (requested, approved, signed, broadcast, confirmed, ...)",
    ["status"],
    registry=REGISTRY,
)

# The worker: group, recovery, readiness.
CONSUMER_LAG = Gauge(
    "blockhook_consumer_lag",
    "records not yet read on this worker's partitions, by topic",
    ["topic"],
    registry=REGISTRY,
)
ASSIGNED = Gauge(
    "blockhook_assigned_partitions",
    "partitions this worker has, by topic",
    ["topic"],
    registry=REGISTRY,
)
READY = Gauge("blockhook_ready", "1 when /readyz answers 200", registry=REGISTRY)
RECOVERIES = Counter(
    "blockhook_recoveries", "table recoveries (after each rebalance)", registry=REGISTRY
)
RECOVERY_SECONDS = Histogram(
    "blockhook_recovery_seconds",
    "how long a table recovery took, from the assignment to reading every changelog's end",
    buckets=_LONG_SECONDS,
    registry=REGISTRY,
)
TABLE_REBUILDS = Counter(
    "blockhook_table_rebuilds",
    "table partitions dropped and read again because the local store disagreed with its "
    "changelog (reason: ahead, behind_start)",
    ["table", "reason"],
    registry=REGISTRY,
)
RECOVERY_STALLS = Counter(
    "blockhook_recovery_stalls",
    "recoveries that made no progress for recovery_stall_s and were started again",
    registry=REGISTRY,
)


def render() -> str:
    """Every metric in the Prometheus text exposition format."""
    return generate_latest(REGISTRY).decode()
