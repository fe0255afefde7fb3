"""retry: fixed interval up to a maximum age, or an explicit list of delays."""

from __future__ import annotations

import pytest

from streams.retry import RetryPolicy


def test_default_is_every_five_minutes_for_a_day() -> None:
    p = RetryPolicy()
    assert p.interval_s == 300 and p.max_age_s == 86_400 and p.delays_s is None
    assert p.next_delay(1, 0) == 300
    assert p.next_delay(100, 86_100) == 300  # the last attempt lands exactly at 24 h
    assert p.next_delay(101, 86_101) is None


def test_fixed_interval_stops_after_max_age() -> None:
    p = RetryPolicy(interval_s=10, max_age_s=35)
    schedule = []
    age, attempts = 0.0, 1
    while (d := p.next_delay(attempts, age)) is not None:
        schedule.append(d)
        age += d
        attempts += 1
        assert attempts < 100
    assert schedule == [10, 10, 10]  # attempts at 0, 10, 20, 30; 40 would exceed 35
    assert age == 30


def test_delays_list() -> None:
    p = RetryPolicy(delays_s=(10, 60, 300))
    assert [p.next_delay(n, 10**9) for n in (1, 2, 3, 4, 5)] == [10, 60, 300, None, None]


def test_from_dict_none_or_empty_is_the_default() -> None:
    default = RetryPolicy(interval_s=7, max_age_s=70)
    assert RetryPolicy.from_dict(None, default) is default
    assert RetryPolicy.from_dict({}, default) is default


def test_from_dict_monitor_override_fixed() -> None:
    default = RetryPolicy()
    p = RetryPolicy.from_dict({"interval_s": 60, "max_age_s": 600}, default)
    assert p == RetryPolicy(interval_s=60, max_age_s=600)
    assert p.next_delay(1, 0) == 60
    assert p.next_delay(10, 540) == 60
    assert p.next_delay(11, 541) is None


def test_from_dict_partial_fixed_falls_back_per_field() -> None:
    default = RetryPolicy(interval_s=30, max_age_s=900)
    assert RetryPolicy.from_dict({"interval_s": 5}, default) == RetryPolicy(5, 900)
    assert RetryPolicy.from_dict({"max_age_s": 50, "interval_s": None}, default) == RetryPolicy(
        30, 50
    )


def test_from_dict_delays_override_fixed_default() -> None:
    p = RetryPolicy.from_dict({"delays_s": [1, 2.5]}, RetryPolicy())
    assert p.delays_s == (1.0, 2.5)
    assert [p.next_delay(n, 0) for n in (1, 2, 3)] == [1.0, 2.5, None]


def test_from_dict_fixed_override_of_a_delays_default() -> None:
    default = RetryPolicy(delays_s=(1, 2))
    p = RetryPolicy.from_dict({"interval_s": 60, "max_age_s": 120}, default)
    assert p.delays_s is None
    assert p.next_delay(5, 0) == 60


def test_policy_is_frozen() -> None:
    with pytest.raises(AttributeError):
        RetryPolicy().interval_s = 1  # type: ignore[misc]
