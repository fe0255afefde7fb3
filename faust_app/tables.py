"""Faust tables: each is the fold of the stream that writes it and shares its partitioning
(docs/architecture.md lists what each holds). Planners in streams return TableWrites naming
these tables; `apply` carries them out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from faust_app import app, settings
from streams.tablewrites import (
    CURSORS,
    MONITOR_CFG,
    MONITOR_CHUNKS,
    MONITORS,
    OWNERS,
    TRACKER,
    TRACKER_ENTRIES,
    WALLET_ALLOC,
    WALLET_MONITORS,
    WATCH_LISTS,
    WD_STATE,
    TableWrite,
)

P = settings.partitions
_by_name: dict[str, Any] = {}


# Each table partition is its own RocksDB; Faust's defaults give each one up to 3 write
# buffers of 64 MB and a 2 GB block cache, which with tens of them lets memory grow with the
# data (watch lists especially) instead of with the working set.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 8 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 8 * 1024 * 1024,
}


def _table(name: str) -> Any:
    table = _by_name[name] = app.Table(
        name,
        partitions=P,
        key_type=bytes,
        value_type=bytes,
        options=dict(ROCKSDB_OPTIONS),  # the store pops from it: one dict each
    )
    return table


cursors_table = _table(CURSORS)  # chain → the follower's cursor
monitors_table = _table(MONITORS)  # monitor id → the monitor as last applied
monitor_chunks_table = _table(MONITOR_CHUNKS)  # monitor id:n → chunk n of its list, as applied
# partition:monitor id → the monitor's chain:address keys that partition owns
watch_lists_table = _table(WATCH_LISTS)
monitor_cfg_table = _table(MONITOR_CFG)  # partition:monitor id → what the tracker needs
owners_table = _table(OWNERS)  # chain:address → the wallet and user_ref it was derived for
wallet_monitors_table = _table(WALLET_MONITORS)  # partition:wallet id → its monitors
# partition:chain|entry key → one pending transfer of the tracker (written when it comes and
# goes, not on every head: a head moves the confirmations of every entry without a write)
tracker_entries_table = _table(TRACKER_ENTRIES)
tracker_table = _table(TRACKER)  # partition:chain → the tracker's small per-chain state
# per wallet: the next index, index → user_ref and user_ref → index
wallet_alloc_table = _table(WALLET_ALLOC)
# withdrawals, in the partition of their sender, in one table so that a changelog read after a
# crash holds a prefix of a command's writes: r|id → the agent's record (with the unsigned and
# signed transaction), b|id → batch, k|chain:sender → its nonce book, p|<n> → active senders
wd_state_table = _table(WD_STATE)


def apply(writes: Iterable[TableWrite]) -> None:
    """Apply planned writes in order: set each key, or delete it for a value of None."""
    for w in writes:
        table = _by_name[w.table]
        if w.value is None:
            table.pop(w.key, None)
        else:
            table[w.key] = w.value
