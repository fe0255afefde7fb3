"""on_block's skip of heads at which no pending entry is due gives what a look at every
pending entry on every head gives: same events in the same order, same state.

Two states are fed the same random run of blocks (new, replayed, after a fork), reorg
markers, backfills and monitor changes; one of them has its derived `quiet` mark removed
before every step, so it always looks at every entry."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.records import Match, MonitorCfg
from streams.tracker import ChainState, Emit, empty_state, on_backfill, on_block, on_reorg
from tests.unit.conftest import _cfg, _transfer, block_hash

FINALITY = 5
MONITORS = ["m1", "m2", "m3"]

step = st.one_of(
    st.tuples(st.just("next"), st.integers(1, 3), st.lists(st.sampled_from(MONITORS), max_size=3)),
    st.tuples(st.just("replay"), st.integers(0, 6), st.just([])),
    st.tuples(st.just("fork"), st.integers(1, 4), st.lists(st.sampled_from(MONITORS), max_size=2)),
    st.tuples(st.just("reorg"), st.integers(1, 4), st.just([])),
    st.tuples(
        st.just("backfill"), st.integers(0, 6), st.lists(st.sampled_from(MONITORS), max_size=2)
    ),
    st.tuples(st.just("toggle"), st.integers(0, 2), st.just([])),
)


def cfgs_from(draw_cfg: list[tuple[int, str]]) -> dict[str, MonitorCfg]:
    return {
        mid: _cfg(id=mid, confirmations=req, notify=notify)
        for mid, (req, notify) in zip(MONITORS, draw_cfg, strict=True)
    }


def strip(state: ChainState) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != "due"}


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 8), st.sampled_from(["threshold", "every_confirmation"])),
        min_size=3,
        max_size=3,
    ),
    st.lists(step, min_size=1, max_size=60),
)
def test_skipping_quiet_heads_changes_nothing(
    monitors: list[tuple[int, str]], steps: list[tuple[str, int, list[str]]]
) -> None:
    cfgs = cfgs_from(monitors)
    fast, full = empty_state(), empty_state()
    canon: dict[int, str] = {}  # number → hash of the blocks folded, as the chain now is
    fork = 0
    tx = 0

    def both(fun: Any, **kw: Any) -> None:
        full.pop("due", None)
        a: list[Emit] = fun(fast, **kw)
        b: list[Emit] = fun(full, **kw)
        assert [e for e, _ in a] == [e for e, _ in b]
        assert strip(fast) == strip(full)

    def matches(number: int, h: str, mids: list[str]) -> list[tuple[MonitorCfg, Match]]:
        nonlocal tx
        out: list[tuple[MonitorCfg, Match]] = []
        for mid in mids:
            tx += 1
            t = _transfer(number=number, bhash=h, tx=tx)
            out.append((cfgs[mid], Match(address=t["to"], side="in", transfer=t)))
        return out

    def block(number: int, h: str, mids: list[str]) -> None:
        both(
            on_block,
            chain="local",
            chain_id=1,
            number=number,
            block_hash=h,
            finality_depth=FINALITY,
            matches=matches(number, h, mids),
            cfg_for=cfgs.get,
        )
        canon[number] = h
        for n in [n for n in canon if n > number]:
            del canon[n]

    for kind, k, mids in steps:
        head = max(canon) if canon else 9
        if kind == "next":
            block(head + k, block_hash(head + k, str(fork)), mids)
        elif kind == "replay" and canon:
            n = sorted(canon)[-1 - min(k, len(canon) - 1)]
            block(n, canon[n], [])
        elif kind == "fork" and canon:
            fork += 1
            n = max(min(canon), head - k + 1)
            block(n, block_hash(n, str(fork)), mids)
        elif kind == "reorg" and canon:
            fork += 1
            at = head - k
            gone = [(n, h) for n, h in canon.items() if n > at]
            both(
                on_reorg,
                chain="local",
                chain_id=1,
                marker_id=f"r{fork}",
                fork_number=at,
                orphaned=gone,
                cfg_for=cfgs.get,
            )
            for n, _ in gone:
                del canon[n]
        elif kind == "backfill" and canon:
            n = max(min(canon), head - k)
            h = canon.get(n, block_hash(n, str(fork)))
            both(
                on_backfill,
                chain="local",
                chain_id=1,
                number=n,
                block_hash=h,
                finality_depth=FINALITY,
                matches=matches(n, h, mids),
            )
        elif kind == "toggle":
            mid = MONITORS[k]
            cfg = copy.deepcopy(cfgs[mid])
            cfg["active"] = not cfg["active"]
            cfgs[mid] = cfg
