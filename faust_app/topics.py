"""Faust declarations of every registered topic (streams/topicspecs.py). Topics are created
at start-up by blockhook/admin.py from the same registry; Faust only declares them."""

from __future__ import annotations

from typing import Any

from faust_app import app, settings
from streams.retry import TIERS_S, tier_topic_name
from streams.topicspecs import TOPICS, TopicSpec


def _declare(spec: TopicSpec) -> Any:
    return app.topic(
        settings.topic(spec.name),
        partitions=spec.partitions or settings.partitions,
        key_serializer="raw",
        value_serializer="raw",
        internal=False,  # created by blockhook/admin.py with the configs the registry says
    )


topics: dict[str, Any] = {spec.name: _declare(spec) for spec in TOPICS}

# The ones agents read from, by name.
monitors_topic = topics["monitors"]
monitor_chunks_topic = topics["monitors.addresses"]
blocks_topic = topics["blocks"]
follower_topic = topics["follower"]
backfill_topic = topics["backfill"]
transfers_topic = topics["transfers"]
deliveries_topic = topics["deliveries"]
retry_topic = topics["deliveries.retry"]
retry_tier_topics = {t: topics[tier_topic_name(t)] for t in TIERS_S}
wallet_requests_topic = topics["wallets.requests"]
audit_requests_topic = topics["audit.requests"]
withdrawal_commands_topic = topics["withdrawals.commands"]
