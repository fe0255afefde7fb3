"""Table writes as values: what a planner decides, for the agent that owns the table to apply.

Planners in this package read nothing and write nothing; they are given the raw values the
agent read and return the writes in the order the agent must apply them. The table is
named by its registered name (the constants below are the names faust_app.tables declares).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

CURSORS = "cursors"
MONITORS = "monitors"
MONITOR_CHUNKS = "monitor_chunks"
WATCH_LISTS = "watch_lists"
MONITOR_CFG = "monitor_cfg"
OWNERS = "owners"
WALLET_MONITORS = "wallet_monitors"
TRACKER_ENTRIES = "tracker_entries"
TRACKER = "tracker"
WALLET_ALLOC = "wallet_alloc"
WD_STATE = "wd_state"

# A read of one table: the raw value under a key, None if there is none.
Lookup = Callable[[bytes], bytes | None]


class TableWrite(NamedTuple):
    """Set `key` of `table` to `value`; a value of None deletes the key (if it is there)."""

    table: str
    key: bytes
    value: bytes | None
