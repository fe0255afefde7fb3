"""Times as the API and the events write them: RFC 3339, UTC, whole seconds, a Z suffix."""

from __future__ import annotations

import functools
from datetime import UTC, datetime


def iso_utc(ts: float) -> str:
    """Unix seconds as RFC 3339 UTC with a Z suffix (whole seconds, as everywhere in the API)."""
    return _iso_second(int(ts))


@functools.lru_cache(maxsize=4096)
def _iso_second(second: int) -> str:
    """Cached: the many records of one second format the same time (a hot path)."""
    return datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
