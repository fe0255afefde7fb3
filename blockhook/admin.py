"""Create the topics blockhook needs, with the partition counts and configs it means."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from core.settings import Settings
from streams.retry import TIERS_S, tier_topic_name

logger = logging.getLogger(__name__)

TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    "monitors": {"cleanup.policy": "compact"},
    "monitors.applied": {"cleanup.policy": "compact"},
    "wallets": {"cleanup.policy": "compact"},
    "blocks": {},
    "events": {},
    "deliveries.dlq": {},
    "follower": {},
    "backfill": {},
    "transfers": {},
    "deliveries": {},
    "deliveries.retry": {},
    # Delivery (issue 4): retry tiers (see streams/retry.py TIERS_S) and the delivery log.
    **{tier_topic_name(t): {} for t in TIERS_S},
    "deliveries.log": {"cleanup.policy": "compact"},
    # Wallets (issue 5).
    "wallets.requests": {},
    "wallets.addresses": {"cleanup.policy": "compact"},
    "sessions": {"cleanup.policy": "compact"},
}


async def ensure_topics(s: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create every missing topic; return the names created. Retries while the broker starts."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap_servers)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [
                NewTopic(
                    s.topic(name),
                    num_partitions=s.partitions,
                    replication_factor=s.replication_factor,
                    topic_configs={"max.message.bytes": str(16 * 1024 * 1024), **cfg},
                )
                for name, cfg in TOPIC_CONFIGS.items()
                if s.topic(name) not in existing
            ]
            if wanted:
                try:
                    await admin.create_topics(wanted)
                except TopicAlreadyExistsError:
                    pass
            return [t.name for t in wanted]
        except KafkaError as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise
            logger.info("broker not ready yet (%s); retrying", exc)
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
