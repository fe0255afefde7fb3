"""Which addresses a webhook may reach (server-side request forgery policy, pure)."""

from __future__ import annotations

import ipaddress

# Cloud metadata endpoints: refused whatever the settings allow (AWS/GCP/Azure/OpenStack at
# 169.254.169.254, AWS over IPv6, ECS task metadata, Alibaba, Azure's wire server).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "fd00:ec2::254",
        "100.100.100.200",
        "168.63.129.16",
    )
)
# Carrier-grade NAT (RFC 6598) is not global; it counts as private here.
CGNAT = ipaddress.ip_network("100.64.0.0/10")


def address_refusal(ip: str, allow_loopback: bool, allow_private: bool) -> str | None:
    """Why a webhook must not connect to ip, or None when it may."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return f"{ip!r} is not an IP address"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr in METADATA_ADDRESSES:
        return "cloud metadata address" + (" (link-local)" if addr.is_link_local else "")
    if addr.is_loopback:
        return None if allow_loopback or allow_private else "loopback address"
    if addr.is_link_local:
        return "link-local address (cloud metadata lives there)"
    if addr.is_unspecified or addr.is_multicast or addr.is_reserved:
        return "reserved address"
    if addr.is_private or not addr.is_global or addr in CGNAT:
        return None if allow_private else "private address"
    return None
