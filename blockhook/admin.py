"""Create the topics blockhook needs (streams/topicspecs.py), with the partition counts and
configs the registry gives them."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from core.settings import Settings
from streams.topicspecs import TOPICS

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # as the producer and consumer are configured


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
                    s.topic(spec.name),
                    num_partitions=spec.partitions or s.partitions,
                    replication_factor=s.replication_factor,
                    topic_configs=spec.configs(MAX_MESSAGE_BYTES),
                )
                for spec in TOPICS
                if s.topic(spec.name) not in existing
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
