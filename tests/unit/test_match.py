"""match: partitioning by watched address, routing both sides, and monitor filters."""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.match import match, monitor_accepts, partition_for, route, watch_key

A = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
B = "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359"
TOKEN = "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb"
OTHER_TOKEN = "0x" + "77" * 20
ROOT = Path(__file__).resolve().parents[2]


def test_watch_key() -> None:
    assert watch_key("local", A) == f"local:{A}"


def test_partition_for_is_crc32_of_the_watch_key() -> None:
    # pinned: a change would move every address to another partition after an upgrade
    assert partition_for("local", A, 7) == zlib.crc32(f"local:{A}".encode()) % 7
    assert partition_for("local", A, 1) == 0


def test_partition_for_is_stable_across_processes() -> None:
    """Not Python's salted hash(): another interpreter gives the same answer."""
    code = (
        "from streams.match import partition_for;"
        "print([partition_for('local', '0x%040x' % i, 13) for i in range(50)])"
    )
    env_out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    ).stdout.strip()
    here = str([partition_for("local", f"0x{i:040x}", 13) for i in range(50)])
    assert env_out == here


@given(
    chain=st.text(min_size=1, max_size=10),
    addr=st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    n=st.integers(1, 1024),
)
def test_partition_for_in_range_and_deterministic(chain: str, addr: str, n: int) -> None:
    p = partition_for(chain, addr, n)
    assert 0 <= p < n
    assert p == partition_for(chain, addr, n)


def test_partition_for_spreads_addresses() -> None:
    used = {partition_for("local", f"0x{i:040x}", 8) for i in range(200)}
    assert used == set(range(8))


def test_partition_depends_on_chain() -> None:
    diffs = [
        partition_for("a", f"0x{i:040x}", 64) != partition_for("b", f"0x{i:040x}", 64)
        for i in range(50)
    ]
    assert any(diffs)


def test_route_puts_both_sides_on_their_owners(make_transfer) -> None:
    t1 = make_transfer(sender=A, to=B)
    t2 = make_transfer(sender=B, to=A, tx=2)
    out = route("local", [t1, t2], 16)
    flat = [
        (p, m["address"], m["side"], m["transfer"]["tx_hash"]) for p, ms in out.items() for m in ms
    ]
    assert sorted(flat) == sorted(
        [
            (partition_for("local", B, 16), B, "in", t1["tx_hash"]),
            (partition_for("local", A, 16), A, "out", t1["tx_hash"]),
            (partition_for("local", A, 16), A, "in", t2["tx_hash"]),
            (partition_for("local", B, 16), B, "out", t2["tx_hash"]),
        ]
    )
    for ms in out.values():
        for m in ms:
            assert m["transfer"] in (t1, t2)


def test_route_self_transfer_gives_two_matches(make_transfer) -> None:
    t = make_transfer(sender=A, to=A)
    out = route("local", [t], 4)
    assert list(out) == [partition_for("local", A, 4)]
    assert [m["side"] for m in out[partition_for("local", A, 4)]] == ["in", "out"]


def test_route_empty() -> None:
    assert route("local", [], 4) == {}


# ---------------------------------------------------------------- monitor_accepts


@pytest.mark.parametrize(
    ("direction", "side", "expected"),
    [
        ("in", "in", True),
        ("in", "out", False),
        ("out", "out", True),
        ("out", "in", False),
        ("both", "in", True),
        ("both", "out", True),
    ],
)
def test_direction(make_cfg, make_transfer, direction: str, side: str, expected: bool) -> None:
    assert monitor_accepts(make_cfg(direction=direction), side, make_transfer()) is expected


@pytest.mark.parametrize("kind", ["native", "erc20", "erc721", "erc1155"])
def test_assets(make_cfg, make_transfer, kind: str) -> None:
    t = make_transfer(kind=kind)
    assert monitor_accepts(make_cfg(assets=[kind]), "in", t)
    others = [k for k in ("native", "erc20", "erc721", "erc1155") if k != kind]
    assert not monitor_accepts(make_cfg(assets=others), "in", t)


def test_tokens_filter(make_cfg, make_transfer) -> None:
    cfg = make_cfg(tokens=[TOKEN])
    assert monitor_accepts(cfg, "in", make_transfer(kind="erc20", contract=TOKEN))
    assert not monitor_accepts(cfg, "in", make_transfer(kind="erc20", contract=OTHER_TOKEN))
    assert not monitor_accepts(cfg, "in", make_transfer(kind="erc721", contract=OTHER_TOKEN))
    assert not monitor_accepts(cfg, "in", make_transfer(kind="erc1155", contract=OTHER_TOKEN))
    assert monitor_accepts(cfg, "in", make_transfer(kind="erc1155", contract=TOKEN))


def test_tokens_filter_does_not_affect_native(make_cfg, make_transfer) -> None:
    assert monitor_accepts(make_cfg(tokens=[TOKEN]), "in", make_transfer(kind="native"))


def test_empty_tokens_means_all(make_cfg, make_transfer) -> None:
    assert monitor_accepts(
        make_cfg(tokens=[]), "in", make_transfer(kind="erc20", contract=OTHER_TOKEN)
    )


@pytest.mark.parametrize(
    ("amount", "minimum", "expected"),
    [
        (999, "1000", False),
        (1000, "1000", True),
        (1001, "1000", True),
        (0, "0", True),
        (2**200, str(2**200), True),
        (2**200 - 1, str(2**200), False),  # exact beyond float precision
    ],
)
def test_min_amount_boundary(
    make_cfg, make_transfer, amount: int, minimum: str, expected: bool
) -> None:
    assert monitor_accepts(make_cfg(min_amount=minimum), "in", make_transfer(amount=amount)) is (
        expected
    )


def test_inactive_monitor_accepts_nothing(make_cfg, make_transfer) -> None:
    assert not monitor_accepts(make_cfg(active=False), "in", make_transfer())
    assert not monitor_accepts(make_cfg(active=False), "out", make_transfer())


# ---------------------------------------------------------------- match


def test_match_pairs_monitors_with_accepted_items(make_cfg, make_transfer) -> None:
    t = make_transfer(sender=A, to=B)
    items = [m for ms in route("local", [t], 4).values() for m in ms]
    cfgs = {
        "mon_in": make_cfg(id="mon_in", direction="in"),
        "mon_out": make_cfg(id="mon_out", direction="out"),
        "mon_off": make_cfg(id="mon_off", active=False),
    }
    watch = {B: ["mon_in", "mon_out", "mon_gone"], A: ["mon_out", "mon_off"]}
    pairs = match(items, lambda m: watch.get(m["address"], []), cfgs.get)
    got = sorted((cfg["id"], m["address"], m["side"]) for cfg, m in pairs)
    assert got == [("mon_in", B, "in"), ("mon_out", A, "out")]


def test_match_nothing_watched(make_transfer) -> None:
    items = [m for ms in route("local", [make_transfer()], 4).values() for m in ms]
    assert match(items, lambda m: [], lambda mid: None) == []
