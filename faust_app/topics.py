"""Topic and table declarations. Contract topics are created at start-up (blockhook.admin)."""

from __future__ import annotations

from faust_app import app, settings

P = settings.partitions


def _topic(name: str, partitions: int = P, internal: bool = False):  # type: ignore[no-untyped-def]
    return app.topic(
        settings.topic(name),
        partitions=partitions,
        key_serializer="raw",
        value_serializer="raw",
        internal=internal,
    )


# Contract topics (CONTRACT.md section 5).
monitors_topic = _topic("monitors")
wallets_topic = _topic("wallets")
blocks_topic = _topic("blocks")
events_topic = _topic("events")
dlq_topic = _topic("deliveries.dlq")

# Internal topics.
follower_topic = _topic("follower")
backfill_topic = _topic("backfill")
applied_topic = _topic("monitors.applied")
transfers_topic = _topic("transfers")
deliveries_topic = _topic("deliveries")
retry_topic = _topic("deliveries.retry")
# Delivery (issue 4): one FIFO retry topic per delay tier, and the delivery log (compacted).
from streams.retry import TIERS_S, tier_topic_name  # noqa: E402

retry_tier_topics = {t: _topic(tier_topic_name(t)) for t in TIERS_S}
delivery_log_topic = _topic("deliveries.log")
# Wallets (issue 5): address requests (keyed by wallet id: one partition owns a wallet's
# counter), assignments (compacted, keyed wallet_id:user_ref) and deposit sessions (compacted).
wallet_requests_topic = _topic("wallets.requests")
wallet_addresses_topic = _topic("wallets.addresses")
sessions_topic = _topic("sessions")


# Tables: each is the fold of the stream that writes it and shares its partitioning.
cursors_table = app.Table("cursors", partitions=P, key_type=bytes, value_type=bytes)
monitors_table = app.Table("monitors", partitions=P, key_type=bytes, value_type=bytes)
# partition:monitor id → the monitor's chain:address keys that partition owns
watch_lists_table = app.Table("watch_lists", partitions=P, key_type=bytes, value_type=bytes)
monitor_cfg_table = app.Table("monitor_cfg", partitions=P, key_type=bytes, value_type=bytes)
owners_table = app.Table("owners", partitions=P, key_type=bytes, value_type=bytes)
wallet_monitors_table = app.Table("wallet_monitors", partitions=P, key_type=bytes, value_type=bytes)
# partition:chain|entry key → one pending transfer of the tracker (written when it comes and
# goes, not on every head: a head moves the confirmations of every entry without a write)
tracker_entries_table = app.Table("tracker_entries", partitions=P, key_type=bytes, value_type=bytes)
tracker_table = app.Table("tracker", partitions=P, key_type=bytes, value_type=bytes)
# Wallets (issue 5): per wallet the next index, index → user_ref and user_ref → index.
wallet_alloc_table = app.Table("wallet_alloc", partitions=P, key_type=bytes, value_type=bytes)
