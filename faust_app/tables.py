"""Faust tables: each is the fold of the stream that writes it and shares its partitioning
(docs/architecture.md lists what each holds)."""

from __future__ import annotations

from typing import Any

from faust_app import app, settings

P = settings.partitions


def _table(name: str) -> Any:
    return app.Table(name, partitions=P, key_type=bytes, value_type=bytes)


cursors_table = _table("cursors")  # chain → the follower's cursor
monitors_table = _table("monitors")  # monitor id → the monitor as last applied
# partition:monitor id → the monitor's chain:address keys that partition owns
watch_lists_table = _table("watch_lists")
monitor_cfg_table = _table("monitor_cfg")  # partition:monitor id → what the tracker needs
owners_table = _table("owners")  # chain:address → the wallet and user_ref it was derived for
wallet_monitors_table = _table("wallet_monitors")  # partition:wallet id → its monitors
# partition:chain|entry key → one pending transfer of the tracker (written when it comes and
# goes, not on every head: a head moves the confirmations of every entry without a write)
tracker_entries_table = _table("tracker_entries")
tracker_table = _table("tracker")  # partition:chain → the tracker's small per-chain state
# per wallet: the next index, index → user_ref and user_ref → index
wallet_alloc_table = _table("wallet_alloc")
