"""The follower's heads records on a real stack: the activity view (as the admin dashboard
uses it) sees chain `local` advance as blocks are mined."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.settings import CONFIG_ENV, Settings
from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.test_pipeline import FUNDER, fresh_address
from views.activity import ActivityView

pytestmark = pytest.mark.e2e


def test_heads_of_local_advance_with_mined_blocks(
    stack: DevStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(stack.config_path))  # the worker's own settings
    asyncio.run(_watch(stack, Settings()))


async def _watch(stack: DevStack, s: Settings) -> None:
    rpc = stack.cfg.rpc_url
    view = ActivityView(s)
    await view.start()
    try:
        assert await view.wait_for(lambda: "local" in view.latest, 30), "no heads record"
        first = view.latest["local"]
        assert first.node_head is not None and first.node_head >= first.block

        tx = await asyncio.to_thread(ct.send_eth, rpc, FUNDER, fresh_address(40), 12345)
        await asyncio.to_thread(ct.wait_success, rpc, tx)
        await asyncio.to_thread(ct.mine, rpc, 3)
        target = await asyncio.to_thread(ct.block_number, rpc)
        assert target >= first.block + 4

        assert await view.wait_for(lambda: view.latest["local"].block >= target, 30), (
            f"heads stayed at {view.latest['local']} (node at {target})"
        )
        rec = view.latest["local"]
        assert rec.node_head is not None and rec.node_head >= rec.block
        # One worker follows `local` all along: its counters only grow, and the transfer
        # just sent is in them.
        assert rec.blocks_total >= first.blocks_total + (target - first.block)
        assert rec.transfers_total >= first.transfers_total + 1
        assert rec.at >= first.at

        (row,) = [r for r in view.chains(time.time()) if r.chain == "local"]
        assert row.block == rec.block and row.lag is not None and row.lag >= 0
        assert row.age_s < 10
        assert row.blocks_per_min > 0 and row.transfers_per_min > 0
    finally:
        await view.stop()
