"""The confirmation fold: on_block / on_reorg over a partition's chain state."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from streams.records import Match, MonitorCfg, Transfer
from streams.tracker import ChainState, empty_state, on_block, on_reorg, transitions

A = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
B = "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"


class Harness:
    """One chain in one partition: feeds block / reorg messages, records what comes out."""

    def __init__(self, cfgs: dict[str, MonitorCfg], finality: int = 6, roundtrip: bool = False):
        self.cfgs = cfgs
        self.finality = finality
        self.roundtrip = roundtrip  # store and reload state as JSON between messages
        self.state: ChainState = empty_state()

    def cfg_for(self, mid: str) -> MonitorCfg | None:
        return self.cfgs.get(mid)

    def _load(self) -> None:
        if self.roundtrip:
            self.state = orjson.loads(orjson.dumps(self.state))

    def block(
        self, number: int, h: str, matches: list[tuple[MonitorCfg, Match]] | None = None
    ) -> list[dict[str, Any]]:
        self._load()
        out = on_block(
            self.state,
            chain="local",
            chain_id=31337,
            number=number,
            block_hash=h,
            finality_depth=self.finality,
            matches=list(matches or []),
            cfg_for=self.cfg_for,
        )
        for ev, cfg in out:
            assert cfg is self.cfgs[ev["monitor_id"]]
        return [ev for ev, _ in out]

    def reorg(self, marker: str, fork: int, orphaned: list[tuple[int, str]]) -> list[dict]:
        self._load()
        out = on_reorg(
            self.state,
            chain="local",
            chain_id=31337,
            marker_id=marker,
            fork_number=fork,
            orphaned=orphaned,
            cfg_for=self.cfg_for,
        )
        return [ev for ev, _ in out]


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(e["type"], e["tx_hash"][-4:], e["confirmations"]) for e in events]


def m(cfg: MonitorCfg, t: Transfer, side: str = "in") -> tuple[MonitorCfg, Match]:
    address = t["to"] if side == "in" else t["sender"]
    return (cfg, Match(address=address, side=side, transfer=t))  # type: ignore[typeddict-item]


@pytest.fixture(params=[False, True], ids=["in-memory", "json-roundtrip"])
def roundtrip(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# ---------------------------------------------------------------- threshold notifications


def test_seen_then_confirmed_at_exactly_required(make_cfg, make_transfer, bhash, roundtrip):
    cfg = make_cfg(confirmations=3)
    h = Harness({"mon_a": cfg}, roundtrip=roundtrip)
    t = make_transfer(number=10)
    assert h.block(9, bhash(9)) == []
    seen = h.block(10, bhash(10), [m(cfg, t)])
    assert summary(seen) == [("transfer.seen", t["tx_hash"][-4:], 1)]
    assert seen[0]["required_confirmations"] == 3
    assert seen[0]["credited"] is False
    assert h.block(11, bhash(11)) == []
    confirmed = h.block(12, bhash(12))
    assert summary(confirmed) == [("transfer.confirmed", t["tx_hash"][-4:], 3)]
    assert confirmed[0]["credited"] is True
    assert confirmed[0]["block_number"] == 10 and confirmed[0]["block_hash"] == bhash(10)
    assert confirmed[0]["id"] != seen[0]["id"]
    for n in range(13, 20):
        assert h.block(n, bhash(n)) == []


def test_required_one_confirms_in_its_own_block(make_cfg, make_transfer, bhash):
    cfg = make_cfg(confirmations=1)
    h = Harness({"mon_a": cfg})
    t = make_transfer(number=10)
    assert summary(h.block(10, bhash(10), [m(cfg, t)])) == [
        ("transfer.confirmed", t["tx_hash"][-4:], 1)
    ]
    assert h.block(11, bhash(11)) == []


def test_first_block_of_a_fresh_state(make_cfg, make_transfer, bhash):
    """No earlier head known: the transfer's own block still counts as its 1st confirmation."""
    cfg = make_cfg(confirmations=2)
    h = Harness({"mon_a": cfg})
    t = make_transfer(number=500)
    assert [e["type"] for e in h.block(500, bhash(500), [m(cfg, t)])] == ["transfer.seen"]
    assert [e["confirmations"] for e in h.block(501, bhash(501))] == [2]


def test_every_confirmation(make_cfg, make_transfer, bhash, roundtrip):
    cfg = make_cfg(confirmations=4, notify="every_confirmation")
    h = Harness({"mon_a": cfg}, roundtrip=roundtrip)
    t = make_transfer(number=10)
    out = h.block(10, bhash(10), [m(cfg, t)])
    for n in range(11, 16):
        out += h.block(n, bhash(n))
    assert [(e["type"], e["confirmations"]) for e in out] == [
        ("transfer.seen", 1),
        ("transfer.confirming", 2),
        ("transfer.confirming", 3),
        ("transfer.confirmed", 4),
    ]
    assert [e["credited"] for e in out] == [False, False, False, True]
    assert len({e["id"] for e in out}) == 4


def test_both_sides_and_monitors_are_separate(make_cfg, make_transfer, bhash):
    c1 = make_cfg(id="mon_1", confirmations=2)
    c2 = make_cfg(id="mon_2", confirmations=1)
    h = Harness({"mon_1": c1, "mon_2": c2})
    t = make_transfer(number=10, sender=A, to=B)
    out = h.block(10, bhash(10), [m(c1, t, "in"), m(c1, t, "out"), m(c2, t, "in")])
    got = sorted((e["monitor_id"], e["direction"], e["type"]) for e in out)
    assert got == [
        ("mon_1", "in", "transfer.seen"),
        ("mon_1", "out", "transfer.seen"),
        ("mon_2", "in", "transfer.confirmed"),
    ]
    assert len({e["id"] for e in out}) == 3
    out = h.block(11, bhash(11))
    assert sorted((e["monitor_id"], e["direction"], e["type"]) for e in out) == [
        ("mon_1", "in", "transfer.confirmed"),
        ("mon_1", "out", "transfer.confirmed"),
    ]


def test_forgotten_after_finality_depth(make_cfg, make_transfer, bhash):
    """Held while a reorg may still revert it (finality_depth confirmations), then dropped:
    state does not grow without bound."""
    cfg = make_cfg(confirmations=3)
    h = Harness({"mon_a": cfg}, finality=5)
    h.block(10, bhash(10), [m(cfg, make_transfer(number=10))])
    for n in range(11, 15):  # up to 5 confirmations: still held
        h.block(n, bhash(n))
        assert len(h.state["pending"]) == 1
    for n in range(15, 10 + 5 + 3 + 1):  # at the latest after finality_depth + required
        h.block(n, bhash(n))
    assert h.state["pending"] == {}
    assert len(h.state["heads"]) <= 6


def test_heads_are_bounded(make_cfg, bhash):
    h = Harness({}, finality=4)
    for n in range(100):
        h.block(n, bhash(n))
    assert h.state["heads"] == [[n, bhash(n)] for n in range(95, 100)]


# ---------------------------------------------------------------- replays (crash safety)


def _scenario(make_cfg, make_transfer, bhash, notify: str):
    cfg = make_cfg(confirmations=3, notify=notify)
    t1 = make_transfer(number=10, tx=1)
    t2 = make_transfer(number=11, tx=2, log_index=0, kind="erc20")
    msgs = [(n, bhash(n), []) for n in range(10, 16)]
    msgs[0] = (10, bhash(10), [m(cfg, t1)])
    msgs[1] = (11, bhash(11), [m(cfg, t2), m(cfg, t2, "out")])
    return cfg, msgs


@pytest.mark.parametrize("notify", ["threshold", "every_confirmation"])
def test_replaying_the_last_block_yields_the_same_events(
    make_cfg, make_transfer, bhash, notify, roundtrip
):
    cfg, msgs = _scenario(make_cfg, make_transfer, bhash, notify)
    h = Harness({"mon_a": cfg}, roundtrip=roundtrip)
    for n, bh, matches in msgs:
        first = h.block(n, bh, matches)
        after_first = copy.deepcopy(h.state)
        again = h.block(n, bh, matches)
        assert again == first  # same events, same ids, same order
        assert h.state == after_first  # and the replay changed nothing
        third = h.block(n, bh, matches)
        assert third == first


@pytest.mark.parametrize("notify", ["threshold", "every_confirmation"])
def test_replaying_an_older_block_yields_that_blocks_events_only(
    make_cfg, make_transfer, bhash, notify
):
    cfg, msgs = _scenario(make_cfg, make_transfer, bhash, notify)
    h = Harness({"mon_a": cfg}, finality=6)
    first: dict[int, list[dict]] = {}
    for n, bh, matches in msgs:
        first[n] = h.block(n, bh, matches)
    assert any(first.values())
    state = copy.deepcopy(h.state)
    for n, bh, matches in reversed(msgs[:-1]):
        assert h.block(n, bh, matches) == first[n], n
    for n, bh, matches in msgs[:-1]:
        assert h.block(n, bh, matches) == first[n], n
    assert h.state == state
    # and the chain then continues as if nothing happened
    assert h.block(16, bhash(16)) == []


def test_replay_of_a_run_of_blocks_yields_the_same_run(make_cfg, make_transfer, bhash):
    """A crash after several messages (offsets not committed) replays all of them."""
    cfg, msgs = _scenario(make_cfg, make_transfer, bhash, "every_confirmation")
    h = Harness({"mon_a": cfg}, finality=6, roundtrip=True)
    first = [h.block(n, bh, ms) for n, bh, ms in msgs]
    again = [h.block(n, bh, ms) for n, bh, ms in msgs[2:]]
    assert again == first[2:]


def test_replay_does_not_reset_heads(make_cfg, bhash):
    h = Harness({}, finality=6)
    for n in range(10, 15):
        h.block(n, bhash(n))
    h.block(12, bhash(12))
    assert [x[0] for x in h.state["heads"]] == [10, 11, 12, 13, 14]


def test_required_above_finality_depth_still_confirms(make_cfg, make_transfer, bhash):
    cfg = make_cfg(confirmations=8)
    h = Harness({"mon_a": cfg}, finality=5)
    out = h.block(10, bhash(10), [m(cfg, make_transfer(number=10))])
    for n in range(11, 20):
        out += h.block(n, bhash(n))
    assert [(e["type"], e["confirmations"]) for e in out] == [
        ("transfer.seen", 1),
        ("transfer.confirmed", 8),
    ]


def test_replay_of_the_confirming_block_after_the_entry_was_forgotten(
    make_cfg, make_transfer, bhash
):
    cfg = make_cfg(confirmations=3)
    h = Harness({"mon_a": cfg}, finality=3)
    msgs = [(10, [m(cfg, make_transfer(number=10))]), (11, []), (12, []), (13, [])]
    first = {n: h.block(n, bhash(n), ms) for n, ms in msgs}
    assert [e["type"] for e in first[12]] == ["transfer.confirmed"]
    assert [12, bhash(12)] in h.state["heads"]  # block 12 is still a known head
    # crash after 13 was saved but before the offsets of 12 and 13 were committed
    assert h.block(12, bhash(12)) == first[12]


# ---------------------------------------------------------------- reorgs


def test_reorg_reverts_pending_and_confirmed_entries(make_cfg, make_transfer, bhash, roundtrip):
    cfg = make_cfg(confirmations=2)
    h = Harness({"mon_a": cfg}, roundtrip=roundtrip)
    x = make_transfer(number=10, tx=1)
    y = make_transfer(number=12, tx=2)
    h.block(9, bhash(9))
    seen_x = h.block(10, bhash(10), [m(cfg, x)])
    conf_x = h.block(11, bhash(11))
    seen_y = h.block(12, bhash(12), [m(cfg, y)])
    assert [e["type"] for e in seen_x + conf_x + seen_y] == [
        "transfer.seen",
        "transfer.confirmed",
        "transfer.seen",
    ]
    orphaned = [(10, bhash(10)), (11, bhash(11)), (12, bhash(12))]
    rev = h.reorg("rg_1", 9, orphaned)
    assert sorted((e["type"], e["tx_hash"], e["block_hash"]) for e in rev) == sorted(
        [
            ("transfer.reverted", x["tx_hash"], bhash(10)),
            ("transfer.reverted", y["tx_hash"], bhash(12)),
        ]
    )
    assert all(e["credited"] is False for e in rev)
    assert h.state["pending"] == {}
    assert h.state["heads"] == [[9, bhash(9)]]

    # the marker replayed (crash before the offset commit): the same events again
    assert h.reorg("rg_1", 9, orphaned) == rev

    # the same transactions re-mined in the new branch: new seen/confirmed with new ids
    x2 = make_transfer(number=10, tx=1, bhash=bhash(10, "b"))
    y2 = make_transfer(number=11, tx=2, bhash=bhash(11, "b"))
    new = h.block(10, bhash(10, "b"), [m(cfg, x2)])
    new += h.block(11, bhash(11, "b"), [m(cfg, y2)])
    new += h.block(12, bhash(12, "b"))
    assert [(e["type"], e["tx_hash"], e["block_hash"]) for e in new] == [
        ("transfer.seen", x["tx_hash"], bhash(10, "b")),
        ("transfer.confirmed", x["tx_hash"], bhash(10, "b")),
        ("transfer.seen", y["tx_hash"], bhash(11, "b")),
        ("transfer.confirmed", y["tx_hash"], bhash(11, "b")),
    ]
    old_ids = {e["id"] for e in seen_x + conf_x + seen_y + rev}
    assert old_ids.isdisjoint(e["id"] for e in new)


def test_reorg_above_the_transfer_keeps_it(make_cfg, make_transfer, bhash):
    cfg = make_cfg(confirmations=3)
    h = Harness({"mon_a": cfg})
    x = make_transfer(number=10)
    first = h.block(10, bhash(10), [m(cfg, x)])
    h.block(11, bhash(11))
    conf = h.block(12, bhash(12))
    assert [e["type"] for e in first + conf] == ["transfer.seen", "transfer.confirmed"]
    assert h.reorg("rg_1", 10, [(11, bhash(11)), (12, bhash(12))]) == []
    assert len(h.state["pending"]) == 1
    assert h.block(11, bhash(11, "b")) == []
    again = h.block(12, bhash(12, "b"))
    # counted again on the new branch; same transfer and block: same id, a receiver dedupes
    assert [e["id"] for e in again] == [conf[0]["id"]]


def test_reorg_marker_replay_after_new_blocks(make_cfg, make_transfer, bhash):
    cfg = make_cfg(confirmations=2)
    h = Harness({"mon_a": cfg})
    x = make_transfer(number=10)
    h.block(10, bhash(10), [m(cfg, x)])
    orphaned = [(10, bhash(10))]
    rev = h.reorg("rg_1", 9, orphaned)
    x2 = make_transfer(number=10, bhash=bhash(10, "b"))
    seen2 = h.block(10, bhash(10, "b"), [m(cfg, x2)])
    assert h.reorg("rg_1", 9, orphaned) == rev
    # the new branch's entry is untouched by the replayed marker
    assert h.block(10, bhash(10, "b"), [m(cfg, x2)]) == seen2
    assert [e["type"] for e in h.block(11, bhash(11, "b"))] == ["transfer.confirmed"]


def test_second_marker_does_not_re_emit_the_first(make_cfg, make_transfer, bhash):
    cfg = make_cfg(confirmations=5)
    h = Harness({"mon_a": cfg})
    h.block(10, bhash(10), [m(cfg, make_transfer(number=10))])
    assert len(h.reorg("rg_1", 9, [(10, bhash(10))])) == 1
    h.block(10, bhash(10, "b"))
    h.block(11, bhash(11, "b"), [m(cfg, make_transfer(number=11, tx=2, bhash=bhash(11, "b")))])
    rev2 = h.reorg("rg_2", 10, [(11, bhash(11, "b"))])
    assert [e["tx_hash"] for e in rev2] == [make_transfer(tx=2)["tx_hash"]]


def test_tombstones_are_forgotten_after_finality(make_cfg, make_transfer, bhash):
    cfg = make_cfg(confirmations=2)
    h = Harness({"mon_a": cfg}, finality=3)
    h.block(10, bhash(10), [m(cfg, make_transfer(number=10))])
    h.reorg("rg_1", 9, [(10, bhash(10))])
    assert len(h.state["reverted"]) == 1
    for n in range(10, 14):
        h.block(n, bhash(n, "b"))
    assert h.state["reverted"] == {}
    assert h.reorg("rg_1", 9, [(10, bhash(10))]) == []


def test_reorg_of_a_deleted_monitor_is_silent(make_cfg, make_transfer, bhash):
    cfg = make_cfg(confirmations=3)
    cfgs = {"mon_a": cfg}
    h = Harness(cfgs)
    h.block(10, bhash(10), [m(cfg, make_transfer(number=10))])
    del cfgs["mon_a"]
    assert h.reorg("rg_1", 9, [(10, bhash(10))]) == []


# ---------------------------------------------------------------- monitor changes


@pytest.mark.parametrize("how", ["deleted", "inactive"])
def test_deleted_or_inactive_monitor_stops_events(make_cfg, make_transfer, bhash, how):
    cfg = make_cfg(confirmations=3)
    cfgs = {"mon_a": cfg}
    h = Harness(cfgs)
    assert len(h.block(10, bhash(10), [m(cfg, make_transfer(number=10))])) == 1
    if how == "deleted":
        del cfgs["mon_a"]
    else:
        cfgs["mon_a"] = make_cfg(confirmations=3, active=False)
    for n in range(11, 16):
        assert h.block(n, bhash(n)) == []
    assert h.state["pending"] == {}


def test_unrelated_monitor_keeps_going(make_cfg, make_transfer, bhash):
    c1, c2 = make_cfg(id="mon_1", confirmations=2), make_cfg(id="mon_2", confirmations=2)
    cfgs = {"mon_1": c1, "mon_2": c2}
    h = Harness(cfgs)
    t = make_transfer(number=10)
    h.block(10, bhash(10), [m(c1, t), m(c2, t)])
    del cfgs["mon_1"]
    out = h.block(11, bhash(11))
    assert [(e["monitor_id"], e["type"]) for e in out] == [("mon_2", "transfer.confirmed")]


# ---------------------------------------------------------------- transitions (pure)


@pytest.mark.parametrize(
    ("block", "prev", "head", "req", "every", "expected"),
    [
        (10, 9, 10, 3, False, [("transfer.seen", 1)]),
        (10, 9, 10, 1, False, [("transfer.confirmed", 1)]),
        (10, 10, 11, 3, False, []),
        (10, 11, 12, 3, False, [("transfer.confirmed", 3)]),
        (10, 12, 13, 3, False, []),
        (10, 10, 11, 3, True, [("transfer.confirming", 2)]),
        (10, 11, 12, 3, True, [("transfer.confirmed", 3)]),
        (10, 9, 12, 3, False, [("transfer.confirmed", 3)]),  # head jumped past required
        (10, 9, 11, 3, True, [("transfer.seen", 2)]),
        (10, 12, 12, 3, True, []),  # no progress
        (10, 12, 11, 3, True, []),  # head went back
        (10, 5, 9, 3, True, []),  # block not reached yet
    ],
)
def test_transitions(make_transfer, block, prev, head, req, every, expected):
    e = {
        "monitor_id": "mon_a",
        "side": "in",
        "address": B,
        "required": req,
        "transfer": make_transfer(number=block),
    }
    assert transitions(e, prev, head, every) == expected  # type: ignore[arg-type]


# ---------------------------------------------------------------- only due entries are visited


def test_due_entries_only_give_every_transition_of_a_full_scan(make_cfg, make_transfer, bhash):
    """Many transfers in many blocks, threshold and every-confirmation monitors, heads that
    skip numbers: the events equal those a check of every entry on every head gives."""
    cfgs = {
        "mon_t": make_cfg(id="mon_t", confirmations=4),
        "mon_e": make_cfg(id="mon_e", confirmations=5, notify="every_confirmation"),
        "mon_1": make_cfg(id="mon_1", confirmations=1),
    }
    h = Harness(cfgs, finality=6, roundtrip=True)
    heads = [n for n in range(10, 50) if n % 7 != 3]  # gaps: 17, 24, 31, 38, 45 never come
    got: list[tuple[str, str, int]] = []
    entries: list[tuple[str, int, int, bool]] = []  # (tx suffix, block, required, every)
    for n in heads:
        matches = []
        if n < 30:
            for j, mid in enumerate(cfgs):
                t = make_transfer(number=n, tx=100 * n + j)
                matches.append(m(cfgs[mid], t))
                entries.append((t["tx_hash"][-4:], n, cfgs[mid]["confirmations"], mid == "mon_e"))
        evs = h.block(n, bhash(n), matches)
        got += [(e["type"], e["tx_hash"][-4:], e["confirmations"]) for e in evs]

    want: list[tuple[str, str, int]] = []
    for tx_s, b, req, every in entries:
        prev = None
        for n in heads:
            if n < b:
                continue
            p = prev if prev is not None else b - 1
            for etype, confs in transitions(
                {"required": req, "transfer": {"block_number": b}},  # type: ignore[typeddict-item]
                p,
                n,
                every,
            ):
                want.append((etype, tx_s, confs))
            prev = n
    assert sorted(got) == sorted(want)
    assert {t for t, _, _ in got} == {"transfer.seen", "transfer.confirming", "transfer.confirmed"}
    assert h.state["pending"] == {}  # everything ended after finality
