"""ipallow: CIDR rules by parsed address, and the client's address behind trusted proxies."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.ipallow import (
    Network,
    allowed,
    allowed_strict,
    client_address,
    parse_address,
    parse_network,
)


def rules(*texts: str) -> list[Network]:
    return [parse_network(t) for t in texts]


def addr(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    got = parse_address(text)
    assert got is not None, text
    return got


# --- parse_network ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "want"),
    [
        ("10.0.0.0/8", ipaddress.IPv4Network("10.0.0.0/8")),
        ("203.0.113.0/24", ipaddress.IPv4Network("203.0.113.0/24")),
        ("  192.0.2.0/24\n", ipaddress.IPv4Network("192.0.2.0/24")),
        ("0.0.0.0/0", ipaddress.IPv4Network("0.0.0.0/0")),
        ("192.0.2.7", ipaddress.IPv4Network("192.0.2.7/32")),
        ("2001:db8::/32", ipaddress.IPv6Network("2001:db8::/32")),
        ("2001:DB8::/32", ipaddress.IPv6Network("2001:db8::/32")),
        ("2001:db8::1", ipaddress.IPv6Network("2001:db8::1/128")),
        ("::/0", ipaddress.IPv6Network("::/0")),
    ],
)
def test_parse_network(rule: str, want: Network) -> None:
    assert parse_network(rule) == want


@pytest.mark.parametrize(
    "rule",
    [
        "10.0.0.1/8",
        "192.0.2.7/24",
        "2001:db8::1/32",
        "::1/0",
        "203.0.113.7/31",
        "::ffff:1.2.3.4/120",
    ],
)
def test_parse_network_refuses_host_bits(rule: str) -> None:
    with pytest.raises(ValueError):
        parse_network(rule)


@pytest.mark.parametrize(
    "rule",
    [
        "",
        "   ",
        "garbage",
        "10.0.0.0/33",
        "2001:db8::/129",
        "300.0.0.0/8",
        "10.0.0/8",
        "1.2.3.4/-1",
    ],
)
def test_parse_network_refuses_garbage(rule: str) -> None:
    with pytest.raises(ValueError):
        parse_network(rule)


@pytest.mark.parametrize(
    ("rule", "want"),
    [
        ("::ffff:203.0.113.0/120", "203.0.113.0/24"),
        ("::ffff:cb00:7100/120", "203.0.113.0/24"),
        ("::ffff:203.0.113.7/128", "203.0.113.7/32"),
        ("::ffff:203.0.113.7", "203.0.113.7/32"),
        ("::ffff:0.0.0.0/96", "0.0.0.0/0"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
    ],
)
def test_v4_mapped_rule_becomes_a_v4_rule(rule: str, want: str) -> None:
    got = parse_network(rule)
    assert isinstance(got, ipaddress.IPv4Network)
    assert got == ipaddress.IPv4Network(want)


def test_v4_mapped_rule_matches_plain_and_mapped_v4_clients() -> None:
    r = rules("::ffff:203.0.113.0/120")
    assert allowed(addr("203.0.113.7"), r)
    assert allowed(addr("::ffff:203.0.113.7"), r)
    assert not allowed(addr("203.0.114.7"), r)


def test_short_v6_rule_over_the_mapped_range_stays_v6() -> None:
    r = parse_network("::/64")
    assert isinstance(r, ipaddress.IPv6Network)
    assert not allowed(addr("1.2.3.4"), [r])


# --- parse_address -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("::FFFF:cb00:7107", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::1%25", "fe80::1"),
        ("::ffff:203.0.113.7%en0", "203.0.113.7"),
        ("::1", "::1"),
    ],
)
def test_parse_address(text: str, want: str) -> None:
    assert parse_address(text) == ipaddress.ip_address(want)


def test_mapped_peer_is_its_v4_client() -> None:
    got = parse_address("::ffff:203.0.113.7")
    assert isinstance(got, ipaddress.IPv4Address)


def test_zone_id_is_dropped() -> None:
    got = parse_address("fe80::1%eth0")
    assert isinstance(got, ipaddress.IPv6Address)
    assert got.scope_id is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "garbage",
        "unknown",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3.4:8080",
        "[2001:db8::1]",
        "[2001:db8::1]:443",
        "2001:db8::g",
        "10.0.0.0/8",
        "%eth0",
        "\uff11.\uff12.\uff13.\uff14",  # fullwidth digits
        "\u0661.\u0662.\u0663.\u0664",  # arabic-indic digits
        "🔑",
    ],
)
def test_parse_address_garbage_is_none(text: str) -> None:
    assert parse_address(text) is None


@given(st.text(max_size=50))
def test_parse_address_never_raises(text: str) -> None:
    got = parse_address(text)
    assert got is None or isinstance(got, ipaddress.IPv4Address | ipaddress.IPv6Address)


# --- allowed -----------------------------------------------------------------------------


def test_empty_list_allows_any_client() -> None:
    assert allowed(addr("1.2.3.4"), [])
    assert allowed(addr("2001:db8::1"), [])
    assert allowed(None, [])


def test_v4_cidr() -> None:
    r = rules("203.0.113.0/24", "10.0.0.0/8")
    assert allowed(addr("203.0.113.0"), r)
    assert allowed(addr("203.0.113.255"), r)
    assert allowed(addr("10.255.0.1"), r)
    assert not allowed(addr("203.0.112.255"), r)
    assert not allowed(addr("203.0.114.0"), r)
    assert not allowed(addr("11.0.0.1"), r)


def test_v6_cidr() -> None:
    r = rules("2001:db8:abcd::/48")
    assert allowed(addr("2001:db8:abcd::1"), r)
    assert allowed(addr("2001:db8:abcd:ffff:ffff:ffff:ffff:ffff"), r)
    assert not allowed(addr("2001:db8:abce::1"), r)


def test_single_address_rules() -> None:
    r = rules("192.0.2.7", "2001:db8::7")
    assert allowed(addr("192.0.2.7"), r)
    assert not allowed(addr("192.0.2.8"), r)
    assert allowed(addr("2001:db8::7"), r)
    assert not allowed(addr("2001:db8::8"), r)


def test_v4_mapped_peer_matches_v4_rule() -> None:
    assert allowed(parse_address("::ffff:203.0.113.7"), rules("203.0.113.0/24"))
    assert not allowed(parse_address("::ffff:203.0.114.7"), rules("203.0.113.0/24"))


def test_v6_rule_never_matches_v4_client() -> None:
    assert not allowed(addr("1.2.3.4"), rules("::/0"))
    assert not allowed(addr("::ffff:1.2.3.4"), rules("::/0"))
    # ::1.2.3.4 (v4-compatible, deprecated) is an IPv6 address, not the v4 one
    assert not allowed(addr("1.2.3.4"), rules("::1.2.3.4"))


def test_v4_rule_never_matches_v6_client() -> None:
    assert not allowed(addr("2001:db8::1"), rules("0.0.0.0/0"))
    assert not allowed(addr("::1"), rules("0.0.0.0/0", "127.0.0.0/8"))
    assert not allowed(addr("::1.2.3.4"), rules("1.2.3.4"))


def test_mixed_families() -> None:
    r = rules("0.0.0.0/0", "::/0")
    assert allowed(addr("1.2.3.4"), r)
    assert allowed(addr("2001:db8::1"), r)


def test_unknown_client_is_refused_by_any_rule() -> None:
    assert not allowed(None, rules("0.0.0.0/0"))
    assert not allowed(None, rules("::/0"))
    assert not allowed(parse_address("garbage"), rules("0.0.0.0/0", "::/0"))


def test_allowed_strict_empty_holds_nobody() -> None:
    assert not allowed_strict(addr("1.2.3.4"), [])
    assert allowed_strict(addr("1.2.3.4"), rules("1.2.3.0/24"))
    assert not allowed_strict(addr("1.2.3.4"), rules("::/0"))


@given(st.ip_addresses(v=4), st.integers(min_value=0, max_value=32))
def test_v4_membership_agrees_with_ipaddress(ip: ipaddress.IPv4Address, prefix: int) -> None:
    net = ipaddress.IPv4Network(f"{ip}/{prefix}", strict=False)
    r = [parse_network(str(net))]
    assert allowed(ip, r)
    assert allowed(parse_address(f"::ffff:{ip}"), r)
    assert not allowed(ipaddress.IPv6Address(f"::ffff:{ip}"), r)  # unparsed: the v6 form


@given(st.ip_addresses(v=6))
def test_v6_client_never_in_a_v4_rule(ip: ipaddress.IPv6Address) -> None:
    if ip.ipv4_mapped is not None:
        return
    assert not allowed(parse_address(str(ip)), rules("0.0.0.0/0"))


# --- client_address ----------------------------------------------------------------------

PROXIES = rules("10.0.0.0/8", "fd00::/8")


def test_untrusted_peer_ignores_forwarded_for() -> None:
    got = client_address("198.51.100.9", ["203.0.113.7"], PROXIES)
    assert got == addr("198.51.100.9")


def test_no_trusted_proxies_ignores_forwarded_for() -> None:
    assert client_address("10.0.0.1", ["203.0.113.7"], []) == addr("10.0.0.1")


def test_trusted_peer_takes_the_right_most_untrusted_hop() -> None:
    got = client_address("10.0.0.1", ["1.1.1.1, 203.0.113.7"], PROXIES)
    assert got == addr("203.0.113.7")


def test_client_spoofed_left_entries_are_ignored() -> None:
    """A client can prepend anything; only the hop the trusted proxy added counts."""
    got = client_address("10.0.0.1", ["10.9.9.9, 8.8.8.8, 203.0.113.7"], PROXIES)
    assert got == addr("203.0.113.7")


def test_chain_of_trusted_proxies() -> None:
    got = client_address("10.0.0.1", ["203.0.113.7, 10.0.0.3, 10.0.0.2"], PROXIES)
    assert got == addr("203.0.113.7")
    got = client_address("fd00::1", ["2001:db8::7, fd00::3, 10.0.0.2"], PROXIES)
    assert got == addr("2001:db8::7")


def test_all_hops_trusted_gives_the_left_most() -> None:
    got = client_address("10.0.0.1", ["10.0.0.3, 10.0.0.2"], PROXIES)
    assert got == addr("10.0.0.3")


def test_trusted_peer_without_header_is_the_peer() -> None:
    assert client_address("10.0.0.1", [], PROXIES) == addr("10.0.0.1")
    assert client_address("10.0.0.1", [""], PROXIES) == addr("10.0.0.1")
    assert client_address("10.0.0.1", [" , ,"], PROXIES) == addr("10.0.0.1")


@pytest.mark.parametrize(
    "header",
    ["garbage", "203.0.113.7:8080", "[2001:db8::1]", "unknown", "203.0.113.7 junk", "1.2.3"],
)
def test_garbled_header_falls_back_to_the_peer(header: str) -> None:
    assert client_address("10.0.0.1", [header], PROXIES) == addr("10.0.0.1")
    assert client_address("10.0.0.1", ["1.1.1.1, " + header], PROXIES) == addr("10.0.0.1")


def test_garbled_hop_behind_good_untrusted_hop_is_not_reached() -> None:
    got = client_address("10.0.0.1", ["garbage, 203.0.113.7"], PROXIES)
    assert got == addr("203.0.113.7")


def test_garbled_hop_behind_trusted_hops_stops_at_a_trusted_address() -> None:
    """The walk stops at the garbled entry; what it answers is a trusted proxy, never an
    address a client could have written."""
    got = client_address("10.0.0.1", ["203.0.113.7, garbage, 10.0.0.2"], PROXIES)
    assert got is not None
    assert got != addr("203.0.113.7")
    assert allowed_strict(got, PROXIES)


def test_multiple_header_lines() -> None:
    got = client_address("10.0.0.1", ["8.8.8.8, 1.1.1.1", "203.0.113.7, 10.0.0.2"], PROXIES)
    assert got == addr("203.0.113.7")
    got = client_address("10.0.0.1", ["8.8.8.8", "203.0.113.7", "10.0.0.2"], PROXIES)
    assert got == addr("203.0.113.7")
    got = client_address("10.0.0.1", ["203.0.113.7", "10.0.0.3, 10.0.0.2"], PROXIES)
    assert got == addr("203.0.113.7")


def test_mapped_and_zoned_addresses_in_the_chain() -> None:
    got = client_address("::ffff:10.0.0.1", ["::ffff:203.0.113.7"], PROXIES)
    assert got == addr("203.0.113.7")
    assert isinstance(got, ipaddress.IPv4Address)
    got = client_address("fd00::1%eth0", ["fe80::9%eth1"], PROXIES)
    assert got == addr("fe80::9")


def test_whitespace_around_hops() -> None:
    got = client_address("10.0.0.1", ["  203.0.113.7 ,   10.0.0.2  "], PROXIES)
    assert got == addr("203.0.113.7")


def test_peer_missing_or_garbled() -> None:
    assert client_address(None, ["203.0.113.7"], PROXIES) is None
    assert client_address("", ["203.0.113.7"], PROXIES) is None
    assert client_address("garbage", ["203.0.113.7"], PROXIES) is None


def test_untrusted_mapped_peer_is_v4() -> None:
    got = client_address("::ffff:198.51.100.9", ["203.0.113.7"], PROXIES)
    assert got == addr("198.51.100.9")
    assert isinstance(got, ipaddress.IPv4Address)


def test_forwarded_for_may_be_any_iterable() -> None:
    got = client_address("10.0.0.1", iter(["203.0.113.7"]), PROXIES)
    assert got == addr("203.0.113.7")
    got = client_address("10.0.0.1", ("203.0.113.7",), PROXIES)
    assert got == addr("203.0.113.7")
