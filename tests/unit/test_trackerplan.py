"""streams.trackerplan: the tracker's table writes for watch, cfg and owner records, and
what a fold leaves to store."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from streams import tablewrites as tw
from streams import trackerplan as tp
from streams.segments import SegmentPlan
from streams.tablewrites import TableWrite
from streams.tracker import ChainState, Entry, empty_state

A1 = "0x" + "a1" * 20
A2 = "0x" + "a2" * 20


class Tables:
    """Table name → key → value, with TableWrites applied as the agent applies them."""

    def __init__(self) -> None:
        self.t: dict[str, dict[bytes, bytes]] = {}

    def of(self, name: str) -> dict[bytes, bytes]:
        return self.t.setdefault(name, {})

    def apply(self, writes: list[TableWrite]) -> None:
        for w in writes:
            if w.value is None:
                self.of(w.table).pop(w.key, None)
            else:
                self.of(w.table)[w.key] = w.value


def cfg_msg(mid: str, wallets: list[str] | None) -> dict[str, Any]:
    cfg = None if wallets is None else {"id": mid, "active": True, "wallet_ids": wallets}
    return {"t": "cfg", "id": mid, "cfg": cfg}


def cfg_step(tables: Tables, p: int, msg: dict[str, Any]) -> list[TableWrite]:
    """One cfg record through the planner, as agents.tracker applies it."""
    raw_old = tables.of(tw.MONITOR_CFG).get(tp.cfg_key(p, msg["id"]))
    writes = tp.plan_cfg(p, msg, raw_old, tables.of(tw.WALLET_MONITORS).get)
    tables.apply(writes)
    return writes


# watch records


def test_watch_adds_to_an_absent_list() -> None:
    msg = {"t": "watch", "id": "m1", "add": [["local", A2], ["local", A1]], "remove": []}
    plan = tp.plan_watch(3, msg, None)
    assert plan.mid == "m1"
    assert plan.added == [f"local:{A2}", f"local:{A1}"]
    assert plan.removed == []
    expected = orjson.dumps([f"local:{A1}", f"local:{A2}"])
    assert plan.writes == [TableWrite(tw.WATCH_LISTS, b"3:m1", expected)]


def test_watch_removes_and_keeps_the_rest_sorted() -> None:
    raw = orjson.dumps([f"local:{A1}", f"local:{A2}"])
    msg = {"t": "watch", "id": "m1", "add": [], "remove": [["local", A1]]}
    plan = tp.plan_watch(0, msg, raw)
    assert plan.removed == [f"local:{A1}"]
    assert plan.writes == [TableWrite(tw.WATCH_LISTS, b"0:m1", orjson.dumps([f"local:{A2}"]))]


def test_watch_emptied_list_is_deleted_and_an_absent_one_left_alone() -> None:
    raw = orjson.dumps([f"local:{A1}"])
    msg = {"t": "watch", "id": "m1", "remove": [["local", A1]]}
    assert tp.plan_watch(0, msg, raw).writes == [TableWrite(tw.WATCH_LISTS, b"0:m1", None)]
    assert tp.plan_watch(0, msg, None).writes == []


def test_watch_replay_writes_the_same_list() -> None:
    msg = {"t": "watch", "id": "m1", "add": [["local", A1]], "remove": []}
    first = tp.plan_watch(0, msg, None).writes
    assert tp.plan_watch(0, msg, first[0].value).writes == first


# cfg records


def test_cfg_stores_the_config_and_indexes_its_wallets() -> None:
    tables = Tables()
    writes = cfg_step(tables, 2, cfg_msg("m1", ["w1", "w2"]))
    assert writes == [
        TableWrite(tw.WALLET_MONITORS, b"2:w1", b'["m1"]'),
        TableWrite(tw.WALLET_MONITORS, b"2:w2", b'["m1"]'),
        TableWrite(tw.MONITOR_CFG, b"2:m1", orjson.dumps(cfg_msg("m1", ["w1", "w2"])["cfg"])),
    ]


def test_cfg_moving_a_wallet_touches_only_the_wallets_that_changed() -> None:
    tables = Tables()
    cfg_step(tables, 0, cfg_msg("m1", ["w1", "w2"]))
    cfg_step(tables, 0, cfg_msg("m2", ["w2"]))
    writes = cfg_step(tables, 0, cfg_msg("m1", ["w2", "w3"]))
    assert [(w.table, w.key, w.value) for w in writes[:-1]] == [
        (tw.WALLET_MONITORS, b"0:w1", None),  # emptied: deleted
        (tw.WALLET_MONITORS, b"0:w3", b'["m1"]'),
    ]
    assert tables.of(tw.WALLET_MONITORS)[b"0:w2"] == b'["m1","m2"]'


def test_cfg_removed_deletes_the_config_and_its_wallet_entries() -> None:
    tables = Tables()
    cfg_step(tables, 1, cfg_msg("m1", ["w1"]))
    cfg_step(tables, 1, cfg_msg("m2", ["w1"]))
    writes = cfg_step(tables, 1, cfg_msg("m1", None))
    assert writes == [
        TableWrite(tw.WALLET_MONITORS, b"1:w1", b'["m2"]'),
        TableWrite(tw.MONITOR_CFG, b"1:m1", None),
    ]
    assert cfg_step(tables, 1, cfg_msg("m1", None)) == []  # nothing left to delete


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["m1", "m2", "m3"]),
            st.none() | st.lists(st.sampled_from(["w1", "w2", "w3", "w4"]), max_size=4),
        ),
        max_size=25,
    )
)
def test_cfg_keeps_the_wallet_index_the_inverse_of_the_configs(
    changes: list[tuple[str, list[str] | None]],
) -> None:
    tables = Tables()
    p = 5
    for mid, wallets in changes:
        msg = cfg_msg(mid, wallets)
        cfg_step(tables, p, msg)
        cfg_step(tables, p, msg)  # a replayed record changes nothing
        expected: dict[bytes, set[str]] = {}
        for raw in tables.of(tw.MONITOR_CFG).values():
            cfg = orjson.loads(raw)
            for w in cfg["wallet_ids"]:
                expected.setdefault(tp.wallet_key(p, w), set()).add(cfg["id"])
        index = {k: orjson.loads(v) for k, v in tables.of(tw.WALLET_MONITORS).items()}
        assert {k: set(v) for k, v in index.items()} == expected
        assert all(len(v) == len(set(v)) for v in index.values())  # no duplicates


def test_owner_record() -> None:
    msg = {"t": "owner", "chain": "local", "address": A1, "wallet_id": "w1", "user_ref": "u"}
    assert tp.plan_owner(msg) == TableWrite(
        tw.OWNERS, f"local:{A1}".encode(), b'{"wallet_id":"w1","user_ref":"u"}'
    )


# saving a chain's state


def entry(block: int, required: int = 3) -> Entry:
    transfer: Any = {"key": f"k{block}", "block_number": block, "block_hash": "0xb"}
    return Entry(monitor_id="m1", side="in", address=A1, required=required, transfer=transfer)


def test_ended_by_age_needs_a_head_and_a_finality_depth() -> None:
    state: ChainState = empty_state()
    assert not tp.ended_by_age(state, 6)(entry(1))
    state["heads"] = [[19, "0x19"], [20, "0x20"]]
    assert not tp.ended_by_age(state, None)(entry(1))
    aged = tp.ended_by_age(state, 6)
    assert aged(entry(10))  # 11 confirmations > 6 + 3
    assert not aged(entry(12))  # 9 confirmations


def test_state_writes_segments_then_the_heads_record() -> None:
    state: ChainState = empty_state()
    state["heads"] = [[20, "0x20"]]
    state["pending"] = {"x": entry(20)}
    state["reverted"] = {}
    plan = SegmentPlan(write={"seg:1": {"x": entry(20)}}, delete=["seg:0"])
    writes = tp.state_writes(4, "local", state, plan)
    assert writes == [
        TableWrite(tw.TRACKER_ENTRIES, b"4:local|seg:1", orjson.dumps({"x": entry(20)})),
        TableWrite(tw.TRACKER_ENTRIES, b"4:local|seg:0", None),
        TableWrite(
            tw.TRACKER,
            b"4:local",
            orjson.dumps({"heads": [[20, "0x20"]], "pending": {}, "reverted": {}}),
        ),
    ]
    assert writes[0].key.startswith(tp.entries_prefix(4, "local"))
    assert writes[-1].key == tp.state_key(4, "local")


def test_keys_read_and_written_agree() -> None:
    assert tp.cfg_key(1, "m") == b"1:m" and tp.watch_list_key(1, "m") == b"1:m"
    assert tp.wallet_key(2, "w") == b"2:w"
    assert tp.entries_prefix(3, "local") == tp.state_key(3, "local") + b"|"
