"""start_block and `blockhook backfill`: earlier blocks are scanned; re-scans repeat ids only."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.receiver import Receiver
from tests.e2e.test_pipeline import FUNDER, by_tx, create_monitor, fresh_address

pytestmark = pytest.mark.e2e


def unique(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events as a receiver that drops duplicate ids sees them."""
    seen: set[str] = set()
    out = []
    for e in events:
        if e["id"] not in seen:
            seen.add(e["id"])
            out.append(e)
    return out


def test_start_block_then_backfill_command(stack: DevStack, receiver: Receiver) -> None:
    rpc = stack.cfg.rpc_url
    watched = fresh_address(20)
    old = ct.send_eth(rpc, FUNDER, watched, 5151)
    old_block = int(ct.wait_receipt(rpc, old)["blockNumber"], 16)
    ct.mine(rpc, 4)  # deep enough to be confirmed when the monitor arrives
    recent = ct.send_eth(rpc, FUNDER, watched, 5252)  # 1 confirmation when the monitor arrives

    mon = create_monitor(stack, receiver, [watched], start_block=old_block)
    evs = receiver.wait_for(
        lambda e: "transfer.confirmed" in by_tx(e, old) and "transfer.seen" in by_tx(e, recent)
    )
    # confirmed straight away when the pipeline had already passed that depth; seen first when
    # the re-scan overtook the live stream (e.g. just after start-up)
    old_types = [e["type"] for e in unique(evs) if e["tx_hash"] == old]
    assert old_types in (["transfer.confirmed"], ["transfer.seen", "transfer.confirmed"])
    confirmed_old = next(
        e for e in evs if e["tx_hash"] == old and e["type"] == "transfer.confirmed"
    )
    assert confirmed_old["amount"] == "5151" and confirmed_old["monitor_id"] == mon["id"]
    ct.mine(rpc, 2)
    evs = receiver.wait_for(lambda e: "transfer.confirmed" in by_tx(e, recent))
    ids_before = {e["id"] for e in evs}
    assert [e["type"] for e in unique(evs) if e["tx_hash"] == recent] == [
        "transfer.seen",
        "transfer.confirmed",
    ]

    head = ct.block_number(rpc)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "blockhook",
            "backfill",
            "--config",
            str(stack.config_path),
            "--chain",
            "local",
            "--from",
            str(old_block),
            "--to",
            str(head),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert f"published {head - old_block + 1} blocks" in out.stdout
    # the re-scan re-sends both transfers' confirmed events under the same ids, nothing new
    receiver.wait_for(lambda e: len(e) >= len(evs) + 2)
    after = receiver.events()
    assert {e["id"] for e in after} == ids_before


def test_backfill_command_rejects_bad_input(stack: DevStack) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "blockhook",
                "backfill",
                "--config",
                str(stack.config_path),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    r = run("--chain", "nochain", "--from", "1", "--to", "2")
    assert r.returncode == 2 and "unknown chain 'nochain'" in r.stderr
    r = run("--chain", "local", "--from", "5", "--to", "2")
    assert r.returncode == 2 and "--to" in r.stderr
    r = run("--chain", "local", "--from", "1", "--to", "99999999")
    assert r.returncode == 2 and "above the node's head" in r.stderr
    r = run("--chain", "local", "--from", "-1", "--to", "2")
    assert r.returncode == 2
