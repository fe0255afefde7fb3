"""Readiness and the recovery stall watch: pure decisions over what a worker observed."""

from __future__ import annotations

from dataclasses import replace

from streams.readiness import FollowedChain, Observed, StallWatch, readiness, stale_after

READY = Observed(
    now=100.0,
    started=True,
    assigned=True,
    rebalancing=False,
    in_recovery=False,
    recovery_remaining=0,
    stalled=False,
    views={"monitors": True, "keys": True},
    followed={"local": FollowedChain(99.0, 50, 48, 15.0)},
)


def test_a_started_assigned_caught_up_worker_with_a_fresh_head_is_ready() -> None:
    r = readiness(READY)
    assert r.ready and r.reasons == []
    assert r.chains["local"] == {
        "followed_here": True,
        "head_age_s": 1.0,
        "node_head": 50,
        "block": 48,
        "lag_blocks": 2,
        "fresh": True,
    }
    assert r.as_json()["status"] == "ready"
    assert r.as_json()["checks"] == dict.fromkeys(
        ("recovered", "assigned", "views", "chains"), True
    )


def test_each_failed_check_is_a_reason() -> None:
    cases = {
        "starting": replace(READY, started=False, followed={}),
        "recovery under way: 12": replace(READY, in_recovery=True, recovery_remaining=12),
        "recovery stalled": replace(READY, in_recovery=True, stalled=True),
        "rebalancing": replace(READY, rebalancing=True),
        "no partitions": replace(READY, assigned=False),
        "views catching up: keys": replace(READY, views={"monitors": True, "keys": False}),
        "chain local: no answer from its node for 20s": replace(
            READY, followed={"local": FollowedChain(80.0, 50, 48, 15.0)}
        ),
        "chain local: no answer from its node for ever": replace(
            READY, followed={"local": FollowedChain(None, None, None, 15.0)}
        ),
    }
    failed = {
        "starting": "recovered",
        "recovery under way: 12": "recovered",
        "recovery stalled": "recovered",
        "rebalancing": "recovered",
        "no partitions": "assigned",
        "views catching up: keys": "views",
        "chain local: no answer from its node for 20s": "chains",
        "chain local: no answer from its node for ever": "chains",
    }
    for expected, observed in cases.items():
        r = readiness(observed)
        assert not r.ready, expected
        assert r.checks[failed[expected]] is False, (expected, r.checks)
        assert any(expected in reason for reason in r.reasons), (expected, r.reasons)
        assert r.as_json()["status"] == "not_ready"


def test_chains_followed_elsewhere_do_not_count() -> None:
    assert readiness(replace(READY, followed={})).ready


def test_stale_after_allows_a_few_polls_with_their_timeouts() -> None:
    assert stale_after(0.2, 1.0) == 15.0
    assert stale_after(12.0, 10.0) == 66.0


def test_the_stall_watch_fires_once_per_window_without_progress() -> None:
    w = StallWatch(stall_s=10.0)
    assert not w.observe(0.0, True, 100)
    assert not w.observe(5.0, True, 80)  # progress: the window starts again
    assert not w.observe(14.0, True, 80)
    assert w.observe(15.0, True, 80) and w.stalled and w.stalls == 1
    assert not w.observe(20.0, True, 80)  # a new window after the retry
    assert w.observe(25.0, True, 80) and w.stalls == 2
    assert not w.observe(26.0, True, 79) and not w.stalled  # progress clears it
    assert not w.observe(30.0, False, 0) and not w.stalled
    assert not w.observe(100.0, True, 500)  # a new recovery starts a new window
    assert not w.observe(105.0, True, 500)
