"""Who is asking: the client address that the throttles are keyed on (log-in, activation).

The direct peer of the connection is the client, unless it is one of the trusted proxies
(GATEWAY_TRUSTED_PROXIES: comma-separated addresses or networks, default none). Only then is
X-Forwarded-For read, from the right: the rightmost entry was appended by the trusted peer
itself; while an entry is again a trusted proxy, the entry left of it was appended by that
proxy and is read too; the first entry that is not a trusted proxy is the client. Whatever is
further left came from the client and is never believed. uvicorn's own proxy-header handling
is off (main.py), so this module is the only place that reads the header. The standard
`Forwarded` header (RFC 7239) is not read.

The services never see the address: they get `client_key`, an HMAC-SHA256 of it under
GATEWAY_SECRET_KEY. IPv6 clients are keyed by their /56 network, the usual size of one
customer's assignment, because a single host can pick any address in its /64 at will.
"""

from __future__ import annotations

import hashlib
import hmac
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from starlette.requests import HTTPConnection

IPAddress = IPv4Address | IPv6Address
Networks = tuple[IPv4Network | IPv6Network, ...]

IPV6_CLIENT_PREFIX = 56
UNKNOWN = "unknown"


def parse_trusted_proxies(text: str) -> Networks:
    """Comma-separated addresses or networks -> networks; ValueError names a bad entry."""
    networks = []
    for item in text.split(","):
        if item := item.strip():
            networks.append(ip_network(item, strict=False))
    return tuple(networks)


def parse_ip(text: str) -> IPAddress | None:
    """An address as a proxy writes it: plain, or with a port (192.0.2.1:8080, [2001:db8::1]:443).
    IPv4-mapped IPv6 addresses become IPv4. None when it is no address."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        text = text[1:end]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Networks) -> bool:
    return any(address in network for network in proxies)


def resolve_client(peer: str | None, forwarded_for: list[str], proxies: Networks) -> str:
    """The client's address, from the connection's peer and the X-Forwarded-For headers."""
    if peer is None:
        return UNKNOWN
    client = parse_ip(peer)
    if client is None:
        return peer  # not an IP connection (a test transport, a unix socket): as it is
    if not _trusted(client, proxies):
        return str(client)
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse_ip(hop)
        if address is None:
            # A trusted proxy passed on something that is no address: stop at the last hop
            # known for sure (all such requests then share one key, the cautious side).
            break
        client = address
        if not _trusted(address, proxies):
            break
    return str(client)


def client_address(connection: HTTPConnection) -> str:
    """The one place the gateway decides who the client is (see the module's docstring)."""
    proxies: Networks = connection.app.state.trusted_proxies
    peer = connection.client.host if connection.client is not None else None
    return resolve_client(peer, connection.headers.getlist("x-forwarded-for"), proxies)


def throttle_subject(address: str) -> str:
    """What a throttle counts: the address, for IPv6 its /56 network."""
    parsed = parse_ip(address)
    if isinstance(parsed, IPv6Address):
        return str(IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False))
    return address


def client_key(connection: HTTPConnection) -> str:
    """The client for the services' throttles: a keyed hash, never the address itself."""
    secret: str = connection.app.state.secret_key
    subject = throttle_subject(client_address(connection))
    return hmac.new(secret.encode(), subject.encode(), hashlib.sha256).hexdigest()
