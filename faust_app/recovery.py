"""Table recovery as this worker runs it: read every changelog to its true end, rebuild a
partition whose local store disagrees with its changelog (with a warning and a count), and
time each recovery. Faust's own recovery does the reading; faust_app/internals.py patches it."""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

from core import faults, metrics
from core.settings import Settings
from faust_app.highwaters import fetched_highwaters
from faust_app.internals import RecoveryHooks, patch_recovery
from streams.recoverycheck import Rebuild

logger = logging.getLogger(__name__)


class RecoveryRecord:
    """When the recovery under way began (None when none is): each one is timed."""

    def __init__(self) -> None:
        self.started_at: float | None = None

    def started(self) -> None:
        self.started_at = time.monotonic()
        metrics.RECOVERIES.inc()

    def ended(self) -> None:
        if self.started_at is not None:
            metrics.RECOVERY_SECONDS.observe(time.monotonic() - self.started_at)
        self.started_at = None

    def rebuild(self, table: str, r: Rebuild[Any]) -> None:
        """A partition dropped to be read again: say so with the figures, and count it."""
        logger.warning(
            "table %s partition %s: %s; dropping the local store and rebuilding it from the "
            "changelog",
            table,
            getattr(r.key, "partition", r.key),
            r.describe(),
        )
        metrics.TABLE_REBUILDS.labels(table=table, reason=r.reason).inc()


record = RecoveryRecord()


# The fault a test sets to make the first recovery stall: the first high watermarks read are
# 1,000 records past the truth, so recovery waits for records that never come until the
# stall watch starts it again (agents/health.py).
STALL_FAULT = "recovery_stall"


class _Probe:
    """The changelogs' true ends, with the stall fault applied once if it is armed."""

    def __init__(self, bootstrap: str) -> None:
        self.fetch = partial(fetched_highwaters, bootstrap)
        self.stall_once = faults.armed(STALL_FAULT)

    async def __call__(self, listed_ends: dict[Any, int]) -> dict[Any, int]:
        try:
            found = await self.fetch(listed_ends)
        except Exception as exc:  # recovery goes on with ListOffsets alone, as Faust would
            logger.warning("changelog high watermarks not fetched (%r); using ListOffsets", exc)
            found = {}
        if self.stall_once and listed_ends:
            self.stall_once = False
            logger.warning("fault %s: high watermarks raised by 1000", STALL_FAULT)
            return {tp: found.get(tp, end) + 1000 for tp, end in listed_ends.items()}
        return found


def install(s: Settings) -> None:
    """Patch Faust's recovery for this process (idempotent)."""
    probe = _Probe(s.bootstrap_servers)
    patch_recovery(RecoveryHooks(probe, record.rebuild, record.started, record.ended))
