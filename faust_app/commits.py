"""What the worker says about commits held below a message in flight (streams.heldcommits)."""

from __future__ import annotations

import logging
import time
from typing import Any

from core import metrics
from streams.heldcommits import HeldCommits

logger = logging.getLogger(__name__)

_held = HeldCommits()


def note_held_commit(tp: Any, offset: int, later: int) -> None:
    """Called for each partition at each commit (faust_app/consumerpatches.patch_commit_floor):
    offset -1 when its commit is not held."""
    if offset < 0:
        _held.released(tp)
        return
    since = _held.held(tp, offset, time.monotonic())
    if since is not None:
        metrics.HELD_COMMITS.inc()
        logger.warning(
            "%s[%d]: the commit is held at offset %d for %.0f s by a message taken and not "
            "acknowledged, while %d later ones are; it is read again at the next rebalance "
            "or restart",
            tp.topic,
            tp.partition,
            offset,
            since,
            later,
        )
