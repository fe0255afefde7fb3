"""Reorgs on a real anvil: orphaned transfers are reverted, re-mined ones confirmed again."""

from __future__ import annotations

from typing import Any

import pytest

from dev import chaintools as ct
from dev.devstack import DevStack
from tests.e2e.receiver import Receiver
from tests.e2e.test_pipeline import FUNDER, by_tx, create_monitor, fresh_address

pytestmark = pytest.mark.e2e


def final_view(events: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """What a receiver that credits on confirmed and debits on reverted ends up with:
    (tx, block hash) → net credits."""
    view: dict[tuple[str, str], int] = {}
    seen: set[str] = set()
    for e in events:
        if e["id"] in seen:  # a receiver drops duplicate ids
            continue
        seen.add(e["id"])
        k = (e["tx_hash"], e["block_hash"])
        if e["type"] == "transfer.confirmed":
            view[k] = view.get(k, 0) + 1
        elif e["type"] == "transfer.reverted" and view.get(k):
            view[k] -= 1
    return {k: v for k, v in view.items() if v}


def canonical(rpc: str, txs: list[str]) -> dict[tuple[str, str], int]:
    out = {}
    for t in txs:
        r = ct.receipt(rpc, t)
        if r is not None:
            out[(t, r["blockHash"])] = 1
    return out


@pytest.mark.parametrize("depth", [1, 3])
def test_reorg_reverts_orphaned_and_reconfirms_remined(
    stack: DevStack, receiver: Receiver, depth: int
) -> None:
    rpc = stack.cfg.rpc_url
    watched = fresh_address(10 + depth)
    create_monitor(stack, receiver, [watched])
    # depth 1: only `late` is orphaned, before its confirmation.
    # depth 3: `early` is orphaned after its confirmation (3 of 3), `late` before its own.
    early = ct.send_eth(rpc, FUNDER, watched, 1000 + depth)
    if depth >= 3:
        ct.mine(rpc, depth - 2)
    late = ct.send_eth(rpc, ct.ANVIL_ACCOUNTS[1], watched, 2000 + depth)  # own nonce
    early_block = int(ct.wait_receipt(rpc, early)["blockNumber"], 16)
    ct.wait_receipt(rpc, late)  # the head read next must include `late` (sends do not wait)
    head = ct.block_number(rpc)
    receiver.wait_for(lambda evs: by_tx(evs, late) == ["transfer.seen"])
    if depth == 3:
        receiver.wait_for(lambda evs: by_tx(evs, early) == ["transfer.seen", "transfer.confirmed"])

    # replace the last `depth` blocks; `late` is mined again in the new chain, `early` is not
    raw_late = ct.rpc(rpc, "eth_getRawTransactionByHash", late)
    orphaned_early = early_block > head - depth
    assert orphaned_early == (depth == 3)
    old_late_hash = ct.wait_receipt(rpc, late)["blockHash"]
    # Another transaction beside `late` makes the replacement block differ from the one it
    # replaces whatever its timestamp (anvil may give it the same one: the same hash).
    filler = {"from": ct.ANVIL_ACCOUNTS[2], "to": fresh_address(90 + depth), "value": "0x1"}
    ct.rpc(rpc, "anvil_reorg", depth, [[raw_late, 0], [filler, 0]])
    ct.mine(rpc, 4)  # the next block reveals the fork; then enough to confirm the re-mined tx

    new_late_hash = ct.wait_receipt(rpc, late)["blockHash"]
    assert new_late_hash != old_late_hash
    evs = receiver.wait_for(
        lambda evs: any(
            e["type"] == "transfer.confirmed" and e["block_hash"] == new_late_hash for e in evs
        )
    )
    late_types = by_tx(evs, late)
    assert late_types[:2] == ["transfer.seen", "transfer.reverted"], [
        (e["type"], e["block_number"], e["block_hash"][:10], e["id"][:12])
        for e in evs
        if e["tx_hash"] == late
    ] + [new_late_hash[:10]]
    assert late_types[-1] == "transfer.confirmed"
    if orphaned_early:
        assert by_tx(evs, early) == ["transfer.seen", "transfer.confirmed", "transfer.reverted"]
    else:
        receiver.wait_for(lambda evs: "transfer.confirmed" in by_tx(evs, early))
        evs = receiver.events()
        assert by_tx(evs, early) == ["transfer.seen", "transfer.confirmed"]
    assert final_view(evs) == canonical(rpc, [early, late])
    ids = [e["id"] for e in evs]
    assert len(ids) == len(set(ids)), "no event should arrive twice here"


def test_kill_9_around_a_reorg_keeps_the_final_view_canonical(
    stack: DevStack, receiver: Receiver
) -> None:
    rpc = stack.cfg.rpc_url
    watched = fresh_address(40)
    create_monitor(stack, receiver, [watched])
    txs = []
    for round_ in range(2):
        a = ct.send_eth(rpc, FUNDER, watched, 4000 + round_)
        b = ct.send_eth(rpc, ct.ANVIL_ACCOUNTS[1], watched, 5000 + round_)
        txs += [a, b]
        receiver.wait_for(lambda evs, b=b: "transfer.seen" in by_tx(evs, b))
        raw_b = ct.rpc(rpc, "eth_getRawTransactionByHash", b)
        ct.rpc(rpc, "anvil_reorg", 2, [[raw_b, 1]])  # a is dropped, b re-mined one block later
        ct.mine(rpc, 1)
        stack.kill_worker()  # during the reorg's processing, or just before it
        ct.mine(rpc, 1)
        stack.start_worker()
        stack.wait_ready()
    ct.mine(rpc, 4)
    want = canonical(rpc, txs)
    evs = receiver.wait_for(lambda evs: final_view(evs) == want, timeout_s=90)
    ids: dict[tuple[str, str, str], set[str]] = {}
    for e in evs:
        ids.setdefault((e["tx_hash"], e["block_hash"], e["type"]), set()).add(e["id"])
    assert all(len(v) == 1 for v in ids.values()), "an event arrived under two ids"
    assert len(want) == 2  # only the two re-mined transfers are canonical
