"""nonces: a (key, nonce) pair is refused while its request could still be accepted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.nonces import NonceBook
from streams.reqsign import WINDOW_S

T0 = 1_700_000_000.0


def test_default_window_is_the_signature_window() -> None:
    assert NonceBook().window_s == WINDOW_S == 300


def test_first_use_goes_replay_within_window_refused() -> None:
    book = NonceBook()
    assert book.use("k1", "n1", T0, T0)
    assert not book.use("k1", "n1", T0, T0)
    assert not book.use("k1", "n1", T0, T0 + 1)
    assert not book.use("k1", "n1", T0, T0 + WINDOW_S)  # the last second it is still fresh
    assert book.seen("k1", "n1", T0 + WINDOW_S)


def test_nonces_are_per_key() -> None:
    book = NonceBook()
    assert book.use("k1", "n1", T0, T0)
    assert book.use("k2", "n1", T0, T0)
    assert not book.use("k1", "n1", T0, T0 + 1)
    assert not book.use("k2", "n1", T0, T0 + 1)
    assert book.use("k1", "n2", T0, T0 + 1)
    assert not book.seen("k3", "n1", T0 + 1)


def test_key_and_nonce_do_not_run_together() -> None:
    book = NonceBook()
    assert book.use("a", "bc", T0, T0)
    assert book.use("ab", "c", T0, T0)


def test_forgotten_after_window() -> None:
    book = NonceBook()
    assert book.use("k1", "n1", T0, T0)
    assert book.seen("k1", "n1", T0 + WINDOW_S)
    assert not book.seen("k1", "n1", T0 + WINDOW_S + 0.001)
    assert book.use("k1", "n1", T0 + WINDOW_S + 1, T0 + WINDOW_S + 1)
    assert len(book) == 1


def test_seen_answers_by_time_even_before_expire() -> None:
    book = NonceBook()
    book.remember("k", "n", T0, T0)
    assert book.seen("k", "n", T0 + WINDOW_S)
    assert not book.seen("k", "n", T0 + WINDOW_S + 0.5)
    assert len(book) == 1  # seen() does not forget; expire() does
    book.expire(T0 + WINDOW_S + 0.5)
    assert len(book) == 0


def test_future_stamped_nonce_is_kept_longer() -> None:
    """Stamped 300 s ahead, the request is fresh until 600 s from now: so is its nonce."""
    book = NonceBook()
    ts = T0 + WINDOW_S
    assert book.use("k", "n", ts, T0)
    assert book.seen("k", "n", T0 + WINDOW_S + 1)
    assert book.seen("k", "n", ts + WINDOW_S)
    assert not book.use("k", "n", ts, ts + WINDOW_S)
    assert not book.seen("k", "n", ts + WINDOW_S + 0.001)
    assert book.use("k", "n", ts, ts + WINDOW_S + 1)


def test_past_stamped_nonce_kept_window_after_use() -> None:
    book = NonceBook()
    assert book.use("k", "n", T0 - WINDOW_S, T0)
    assert book.seen("k", "n", T0 + WINDOW_S)  # max(now, ts) + window
    assert not book.seen("k", "n", T0 + WINDOW_S + 1)


def test_remember_is_idempotent_and_only_extends() -> None:
    book = NonceBook()
    book.remember("k", "n", T0 + 100, T0)  # until T0 + 400
    book.remember("k", "n", T0, T0)  # until T0 + 300: keeps the later one
    assert len(book) == 1
    assert book.seen("k", "n", T0 + 400)
    book.expire(T0 + 300.5)  # the stale heap entry must not drop the live one
    assert len(book) == 1
    assert book.seen("k", "n", T0 + 400)
    book.expire(T0 + 400.5)
    assert len(book) == 0
    assert not book.seen("k", "n", T0 + 400.5)


def test_remember_extended_later() -> None:
    book = NonceBook()
    book.remember("k", "n", T0, T0)  # until T0 + 300
    book.remember("k", "n", T0 + 200, T0 + 200)  # until T0 + 500
    book.expire(T0 + 301)
    assert book.seen("k", "n", T0 + 500)
    assert len(book) == 1


def test_expire_bounds_memory() -> None:
    book = NonceBook()
    for i in range(1000):
        assert book.use("k", f"n{i}", T0 + i, T0 + i)
    assert len(book) == WINDOW_S + 1  # the rest were forgotten as time went by
    book.expire(T0 + 10_000)
    assert len(book) == 0
    assert book.use("k", "n0", T0 + 10_000, T0 + 10_000)


def test_remember_forgets_what_expired() -> None:
    book = NonceBook()
    for i in range(50):
        book.remember(f"k{i}", "n", T0, T0)
    assert len(book) == 50
    book.remember("other", "n", T0 + WINDOW_S + 1, T0 + WINDOW_S + 1)
    assert len(book) == 1


def test_custom_window() -> None:
    book = NonceBook(window_s=10)
    assert book.use("k", "n", T0, T0)
    assert not book.use("k", "n", T0, T0 + 10)
    assert book.use("k", "n", T0 + 11, T0 + 11)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["k1", "k2"]),
            st.sampled_from(["a", "b", "c"]),
            st.integers(min_value=-WINDOW_S, max_value=WINDOW_S),
            st.integers(min_value=0, max_value=400),
        ),
        max_size=40,
    )
)
def test_matches_a_naive_model(events: list[tuple[str, str, int, int]]) -> None:
    """Against a model that remembers everything: a nonce is refused exactly while the later
    of an earlier use's time and stamp is at most window_s ago."""
    book = NonceBook()
    now = T0
    history: dict[tuple[str, str], float] = {}
    for key, nonce, skew, step in events:
        now += step
        ts = now + skew
        until = history.get((key, nonce))
        fresh = until is None or until < now
        assert book.use(key, nonce, ts, now) is fresh
        if fresh:
            history[(key, nonce)] = max(now, ts) + WINDOW_S
        assert len(book) <= len(history)
