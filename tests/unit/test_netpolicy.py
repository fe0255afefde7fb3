"""netpolicy: which addresses a webhook may connect to (SSRF guard)."""

from __future__ import annotations

import pytest

from streams.netpolicy import address_refusal

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.0.1",
    "fe80::1",
    "fe80::1%eth0",
    "::ffff:127.0.0.1",
    "::ffff:10.1.2.3",
    "::ffff:169.254.169.254",
    "0.0.0.0",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "100.64.0.1",
    "224.0.0.1",
    "255.255.255.255",
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "172.32.0.1",
    "::ffff:8.8.8.8",
]


@pytest.mark.parametrize("ip", REFUSED)
def test_refused_by_default(ip: str) -> None:
    assert address_refusal(ip, allow_loopback=False, allow_private=False) is not None


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_allowed(ip: str) -> None:
    assert address_refusal(ip, allow_loopback=False, allow_private=False) is None


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.0.0.53"])
def test_loopback_allowed_only_with_allow_loopback(ip: str) -> None:
    assert address_refusal(ip, allow_loopback=True, allow_private=False) is None
    assert address_refusal(ip, allow_loopback=False, allow_private=False) == "loopback address"


@pytest.mark.parametrize("ip", ["10.0.0.1", "192.168.0.10", "172.16.5.4", "fd00::1"])
def test_allow_loopback_does_not_open_private(ip: str) -> None:
    assert address_refusal(ip, allow_loopback=True, allow_private=False) is not None
    assert address_refusal(ip, allow_loopback=False, allow_private=True) is None


@pytest.mark.parametrize("ip", ["169.254.169.254", "fe80::1", "0.0.0.0", "::", "224.0.0.1"])
def test_link_local_and_unspecified_refused_even_when_allowed(ip: str) -> None:
    assert address_refusal(ip, allow_loopback=True, allow_private=True) is not None


def test_metadata_reason_mentions_link_local() -> None:
    assert "link-local" in str(address_refusal("169.254.169.254", False, False))


@pytest.mark.parametrize("ip", ["not-an-ip", "", "999.1.1.1", "example.com", "1.2.3"])
def test_not_an_ip(ip: str) -> None:
    assert "not an IP address" in str(address_refusal(ip, True, True))
