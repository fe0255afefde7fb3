"""Which addresses a webhook may reach (server-side request forgery policy, pure)."""

from __future__ import annotations

import ipaddress


def address_refusal(ip: str, allow_loopback: bool, allow_private: bool) -> str | None:
    """Why a webhook must not connect to ip, or None when it may."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return f"{ip!r} is not an IP address"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        return None if allow_loopback or allow_private else "loopback address"
    if addr.is_link_local:
        return "link-local address (cloud metadata lives there)"
    if addr.is_unspecified or addr.is_multicast or addr.is_reserved:
        return "reserved address"
    if addr.is_private or not addr.is_global:
        return None if allow_private else "private address"
    return None
