"""RPC endpoint names: safe in logs and labels, distinct per configured URL."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.endpoints import endpoint, endpoint_names


def test_only_scheme_host_and_port_remain() -> None:
    assert endpoint("https://mainnet.infura.io/v3/abcdef0123") == "https://mainnet.infura.io"
    assert (
        endpoint("https://user:pass@node.example:8545/x?apikey=k#f") == "https://node.example:8545"
    )
    assert endpoint("HTTP://[::1]:8545/") == "http://[::1]:8545"
    assert endpoint("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    for bad in ["", "not a url", "http://", "://host", "http://[::1:bad/"]:
        assert endpoint(bad) == "invalid-url"


def test_urls_of_one_host_get_distinct_names_in_order() -> None:
    urls = ["https://a.example/k1", "https://b.example/", "https://a.example/k2"]
    assert endpoint_names(urls) == ["https://a.example", "https://b.example", "https://a.example#2"]


@given(st.lists(st.text(min_size=0, max_size=20), max_size=5))
def test_no_path_query_or_userinfo_ever_survives(secrets: list[str]) -> None:
    urls = [f"https://u{i}:{s}@host{i % 2}.example/{s}?k={s}#{s}" for i, s in enumerate(secrets)]
    names = endpoint_names(urls)
    assert len(set(names)) == len(names)
    for n in names:
        assert "@" not in n and "?" not in n and "#" not in n.split("#")[0]
        assert n.startswith("invalid-url") or n.split("#")[0].count("/") == 2
