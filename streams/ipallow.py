"""IP allowlists: CIDR rules for IPv4 and IPv6, and the client's address behind proxies.

Matching is by parsed address, never by text: an IPv6 rule never matches an IPv4 client, and
an IPv4-mapped IPv6 peer (`::ffff:203.0.113.7`, as a dual-stack socket reports it) is the
IPv4 client it stands for."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(rule: str) -> Network:
    """One CIDR rule (a bare address is a /32 or /128); ValueError if it is not one.
    Host bits are refused (`10.0.0.1/8`), since they usually mean a typo."""
    net = ipaddress.ip_network(rule.strip(), strict=True)
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96:
        mapped = net.network_address.ipv4_mapped
        if mapped is not None:  # ::ffff:a.b.c.d/120 is the v4 rule a.b.c.d/24
            return ipaddress.IPv4Network(f"{mapped}/{net.prefixlen - 96}")
    return net


def parse_address(text: str) -> Address | None:
    """A client address (IPv4-mapped IPv6 unwrapped, zone id dropped), or None."""
    try:
        addr = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def allowed(client: Address | None, rules: Sequence[Network]) -> bool:
    """An empty list allows any client; otherwise the client must be in one of the rules
    of its own family."""
    if not rules:
        return True
    if client is None:
        return False
    return any(client.version == n.version and client in n for n in rules)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]
) -> Address | None:
    """The client's address: the TCP peer, unless the peer is a trusted proxy, in which case
    the right-most X-Forwarded-For entry that is not itself a trusted proxy."""
    addr = parse_address(peer or "")
    if addr is None or not allowed_strict(addr, trusted):
        return addr
    hops = [h.strip() for line in forwarded_for for h in line.split(",") if h.strip()]
    for hop in reversed(hops):
        hop_addr = parse_address(hop)
        if hop_addr is None:
            return addr  # a garbled header: trust only what we saw ourselves
        if not allowed_strict(hop_addr, trusted):
            return hop_addr
        addr = hop_addr
    return addr


def allowed_strict(client: Address, rules: Sequence[Network]) -> bool:
    """In one of the rules (an empty list holds nobody)."""
    return any(client.version == n.version and client in n for n in rules)
