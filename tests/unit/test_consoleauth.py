"""consoleauth: session tokens, CSRF tokens, session validity and sign-in lock-out."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.consoleauth import (
    Lockout,
    attempt,
    csrf_ok,
    csrf_token,
    last_totp_step,
    locked_until,
    new_session,
    new_token,
    revoked,
    session_id,
    session_valid,
)

URLSAFE = re.compile(r"[A-Za-z0-9_-]+\Z")
TOKENS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
POLICY = Lockout(failures=3, window_s=60.0, lock_s=300.0)
NOW = 1_800_000_000.0


def operator(name: str = "alice", epoch: int = 0, disabled: bool = False) -> dict[str, Any]:
    return {"name": name, "roles": ["operator"], "epoch": epoch, "disabled": disabled}


def session(op: dict[str, Any] | None = None, ttl_s: float = 3600.0) -> dict[str, Any]:
    return new_session(session_id(new_token()), op or operator(), NOW, ttl_s, "10.0.0.1")


def fails(*at: float, name: str = "alice") -> list[dict[str, Any]]:
    return [attempt(name, False, t) for t in at]


# Tokens.


def test_new_token_is_url_safe_and_random() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for t in tokens:
        assert URLSAFE.match(t) and len(t) == 43  # 32 bytes, no padding


def test_session_id_is_a_digest() -> None:
    t = new_token()
    sid = session_id(t)
    assert sid == session_id(t)
    assert re.fullmatch(r"cs_[0-9a-f]{40}", sid)
    assert t not in sid
    assert session_id(new_token()) != sid


@settings(max_examples=200)
@given(TOKENS.filter(lambda t: len(t) >= 8))
def test_session_id_never_holds_the_token(token: str) -> None:
    sid = session_id(token)
    assert sid == session_id(token) and len(sid) == 43
    assert token not in sid.removeprefix("cs_")


def test_csrf_token() -> None:
    t = new_token()
    c = csrf_token(t)
    assert c == csrf_token(t)
    assert URLSAFE.match(c) and len(c) == 43
    assert c != t and t not in c and c != session_id(t)
    assert csrf_token(new_token()) != c


def test_csrf_ok() -> None:
    t, other = new_token(), new_token()
    assert csrf_ok(t, csrf_token(t))
    assert not csrf_ok(t, csrf_token(other))
    assert not csrf_ok(other, csrf_token(t))
    assert not csrf_ok(t, t)
    assert not csrf_ok(t, session_id(t))
    assert not csrf_ok(t, csrf_token(t)[:-1])
    assert not csrf_ok(t, csrf_token(t) + "A")


@pytest.mark.parametrize(("token", "sent"), [("tok", ""), ("tok", None), ("", ""), (None, None)])
def test_csrf_ok_refuses_empty(token: str | None, sent: str | None) -> None:
    assert not csrf_ok(token, sent)


def test_csrf_ok_without_a_session_refuses_even_the_empty_tokens_csrf() -> None:
    assert not csrf_ok(None, csrf_token(""))
    assert not csrf_ok("", csrf_token(""))


@settings(max_examples=200)
@given(TOKENS.filter(bool), TOKENS.filter(bool))
def test_csrf_belongs_to_one_session(a: str, b: str) -> None:
    assert csrf_ok(a, csrf_token(a))
    assert csrf_ok(a, csrf_token(b)) is (a == b)


def test_csrf_ok_refuses_non_ascii() -> None:
    assert not csrf_ok(new_token(), "é")


# Sessions.


def test_new_session() -> None:
    op = operator(epoch=4)
    s = new_session("cs_x", op, NOW, 600.0, None)
    assert s == {
        "id": "cs_x",
        "operator": "alice",
        "epoch": 4,
        "created_at": NOW,
        "expires_at": NOW + 600.0,
        "revoked": False,
        "ip": None,
    }
    assert new_session("cs_y", {"name": "bob"}, NOW, 1.0, "::1")["epoch"] == 0


def test_session_valid_until_it_expires() -> None:
    op = operator()
    s = session(op, ttl_s=600.0)
    assert session_valid(s, op, NOW)
    assert session_valid(s, op, NOW + 599.999)
    assert not session_valid(s, op, NOW + 600.0)
    assert not session_valid(s, op, NOW + 10_000)


def test_revoked_session() -> None:
    op = operator()
    s = session(op)
    r = revoked(s, NOW + 5)
    assert r["revoked"] is True and r["revoked_at"] == NOW + 5
    assert s["revoked"] is False  # the original is kept
    assert not session_valid(r, op, NOW + 6)


def test_session_of_another_operator() -> None:
    s = session(operator("alice"))
    assert not session_valid(s, operator("bob"), NOW)
    assert not session_valid(s, operator("Alice"), NOW)


def test_epoch_moved_on() -> None:
    op = operator(epoch=2)
    s = session(op)
    assert session_valid(s, op, NOW)
    assert not session_valid(s, {**op, "epoch": 3}, NOW)
    assert not session_valid(s, {**op, "epoch": 1}, NOW)


def test_operator_without_an_epoch_is_epoch_zero() -> None:
    op = {"name": "alice"}
    s = session(operator(epoch=0))
    assert session_valid(s, op, NOW)
    assert session_valid(s, {**op, "epoch": None}, NOW)
    assert not session_valid({k: v for k, v in s.items() if k != "epoch"}, op, NOW)


def test_disabled_or_missing_operator() -> None:
    op = operator()
    s = session(op)
    assert not session_valid(s, {**op, "disabled": True}, NOW)
    assert not session_valid(s, None, NOW)
    assert not session_valid(None, op, NOW)
    assert not session_valid(None, None, NOW)


def test_session_without_an_expiry_is_not_valid() -> None:
    op = operator()
    s = {k: v for k, v in session(op).items() if k != "expires_at"}
    assert not session_valid(s, op, NOW)


# Lock-out.


def test_attempt_record() -> None:
    assert attempt("alice", True, NOW, 7) == {
        "name": "alice",
        "ok": True,
        "at": NOW,
        "totp_step": 7,
    }
    assert attempt("bob", False, NOW)["totp_step"] is None


def test_fewer_failures_than_the_threshold() -> None:
    assert locked_until([], NOW, POLICY) is None
    assert locked_until(fails(NOW - 2, NOW - 1), NOW, POLICY) is None


def test_threshold_inside_the_window_locks() -> None:
    log = fails(NOW - 20, NOW - 10, NOW - 1)
    assert locked_until(log, NOW, POLICY) == NOW - 1 + 300
    assert locked_until(fails(NOW, NOW, NOW), NOW, POLICY) == NOW + 300


def test_window_edge_is_inclusive() -> None:
    assert locked_until(fails(NOW - 60, NOW - 30, NOW), NOW, POLICY) == NOW + 300
    assert locked_until(fails(NOW - 60.5, NOW - 30, NOW), NOW, POLICY) is None


def test_more_failures_lock_from_the_last() -> None:
    log = fails(NOW - 40, NOW - 30, NOW - 20, NOW - 10)
    assert locked_until(log, NOW, POLICY) == NOW - 10 + 300


def test_a_success_in_between_resets() -> None:
    log = [*fails(NOW - 30, NOW - 20), attempt("alice", True, NOW - 15), *fails(NOW - 10)]
    assert locked_until(log, NOW, POLICY) is None
    log += fails(NOW - 5, NOW - 1)
    assert locked_until(log, NOW, POLICY) == NOW - 1 + 300


def test_a_success_after_the_lock_unlocks() -> None:
    log = [*fails(NOW - 3, NOW - 2, NOW - 1), attempt("alice", True, NOW)]
    assert locked_until(log, NOW, POLICY) is None


def test_failures_spread_wider_than_the_window() -> None:
    assert locked_until(fails(NOW - 200, NOW - 100, NOW), NOW, POLICY) is None
    assert locked_until(fails(NOW - 61, NOW - 1, NOW), NOW, POLICY) is None


def test_lock_ends_after_lock_s() -> None:
    log = fails(NOW, NOW + 1, NOW + 2)
    assert locked_until(log, NOW + 2, POLICY) == NOW + 302
    assert locked_until(log, NOW + 301.9, POLICY) == NOW + 302
    assert locked_until(log, NOW + 302, POLICY) is None
    assert locked_until(log, NOW + 10_000, POLICY) is None


def test_lockout_of_one_failure() -> None:
    p = Lockout(failures=1, window_s=0, lock_s=10)
    assert locked_until(fails(NOW), NOW, p) == NOW + 10
    assert locked_until(fails(NOW), NOW + 10, p) is None


def test_attempts_can_be_any_iterable() -> None:
    log = iter(fails(NOW - 2, NOW - 1, NOW))
    assert locked_until(log, NOW, POLICY) == NOW + 300


def test_a_later_failure_does_not_lift_a_lock() -> None:
    log = fails(NOW, NOW + 1, NOW + 2, NOW + 100)  # locked NOW+2 .. NOW+302
    assert locked_until(log, NOW + 150, POLICY) == NOW + 302


def model_locked_until(log: list[dict[str, Any]], now: float, p: Lockout) -> float | None:
    """Brute force: every set of `failures` failures since the last success that fall within
    window_s of each other locks until lock_s after its last; the latest lock still running."""
    since = log
    for i, a in enumerate(log):
        if a["ok"]:
            since = log[i + 1 :]
    times = [a["at"] for a in since if not a["ok"]]
    ends = [
        max(c) + p.lock_s
        for c in itertools.combinations(times, p.failures)
        if max(c) - min(c) <= p.window_s
    ]
    live = [e for e in ends if e > now]
    return max(live) if live else None


@st.composite
def attempt_logs(draw: st.DrawFn) -> tuple[Lockout, list[dict[str, Any]], float]:
    """A policy and a log the sign-in form could write: times go forward, and a failure is
    logged only while the name is not locked (a locked sign-in is refused unlogged)."""
    p = Lockout(
        failures=draw(st.integers(1, 4)),
        window_s=float(draw(st.integers(0, 30))),
        lock_s=float(draw(st.integers(1, 120))),
    )
    t, log = 0.0, []
    for gap, ok in draw(
        st.lists(
            st.tuples(st.integers(0, 15), st.sampled_from([False, False, False, True])), max_size=12
        )
    ):
        t += gap
        if ok or model_locked_until(log, t, p) is None:
            log.append(attempt("alice", ok, t))
    now = t + draw(st.integers(0, 60))
    return p, log, now


@settings(max_examples=300)
@given(attempt_logs())
def test_locked_until_agrees_with_a_brute_force_model(
    case: tuple[Lockout, list[dict[str, Any]], float],
) -> None:
    p, log, now = case
    assert locked_until(log, now, p) == model_locked_until(log, now, p)


@settings(max_examples=200)
@given(
    st.lists(st.tuples(st.integers(0, 1000), st.booleans()), max_size=15),
    st.integers(0, 2000),
)
def test_locked_until_is_in_the_future_and_ends_a_failure(
    raw: list[tuple[int, bool]], now: int
) -> None:
    log = [attempt("alice", ok, float(t)) for t, ok in sorted(raw)]
    until = locked_until(log, now, POLICY)
    if until is not None:
        assert until > now
        assert until - POLICY.lock_s in [a["at"] for a in log if not a["ok"]]
        assert not log[-1]["ok"]


# The last TOTP step.


def test_last_totp_step() -> None:
    assert last_totp_step([]) == 0
    log = [
        attempt("alice", True, NOW, 100),
        attempt("alice", True, NOW + 1, 102),
        attempt("alice", False, NOW + 2, 500),  # a failure never uses a step
        attempt("alice", True, NOW + 3, None),  # a sign-in with a recovery code
        attempt("alice", True, NOW + 4, 101),
    ]
    assert last_totp_step(log) == 102
    assert last_totp_step(iter(log)) == 102
    assert last_totp_step(fails(NOW, NOW + 1)) == 0
    assert last_totp_step([{"ok": True}]) == 0
