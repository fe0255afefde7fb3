"""What the worker says when Faust's fetch loop would have skipped or miscounted a message
(faust_app/consumerpatches.patch_fetch_order and patch_stale_acks)."""

from __future__ import annotations

import logging
import time
from typing import Any

from core import metrics
from core.settings import Settings
from streams.topicspecs import TOPICS

logger = logging.getLogger(__name__)

_SAID = {
    "reread": "offset %d arrived while %s was expected next; reading the partition again from it",
    "gap": "the partition now begins at %d, past %s expected next (records removed by "
    "retention): reading on from there",
    "read_offset": "offset %d was never handed over but is below the read offset %s: handed over",
}


def gapless_topics(s: Settings) -> set[str]:
    """The topics whose offsets have no gaps (not compacted), by their full names."""
    return {s.topic(spec.name) for spec in TOPICS if not spec.compacted}


# When each (kind, partition) was last said: at most once every 10 s each (the counter
# counts them all).
_said_at: dict[tuple[str, Any], float] = {}


def note_fetch_order(kind: str, tp: Any, offset: int, expected: int | None) -> None:
    metrics.FETCH_ORDER.labels(kind).inc()
    now = time.monotonic()
    if now - _said_at.get((kind, tp), -1e9) < 10.0:
        return
    _said_at[(kind, tp)] = now
    logger.warning("%s[%d]: " + _SAID[kind], tp.topic, tp.partition, offset, expected)


def note_stale_ack(message: Any) -> None:
    metrics.STALE_ACKS.inc()
    logger.info(
        "%s[%d]@%d: acknowledged after a rebalance; not counted, it is read again",
        message.topic,
        message.partition,
        message.offset,
    )
