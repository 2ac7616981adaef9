"""Where webhooks may be sent: http(s) URLs, and (unless allowed) no private address.

A numbering service sits inside a company's network; a subscription that
pointed at 127.0.0.1 or 10.0.0.5 would let any admin key make it call
internal services. So unless the service is bound to loopback (nothing beyond
this machine can reach it) or told otherwise, a target must resolve to public
addresses only (an IPv6 form carrying a private IPv4 counts as private),
checked when the subscription is saved and again before each delivery (a name
may resolve differently later), and when the connection is made: a name
re-pointed at 10.0.0.5 after the check still never gets a connection.
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from app.core import grammar
from app.core.errors import InvalidWebhookTarget

SCHEMES = ("http", "https")
# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64, its local-use
# range, and the deprecated IPv4-compatible form. A NAT64 gateway turns
# 64:ff9b::a9fe:a9fe into 169.254.169.254.
IPV4_IN_LAST_32_BITS = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
)


def carried_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for: IPv4-mapped (::ffff:a.b.c.d), 6to4
    (2002::/16), Teredo (2001::/32: its server and client) and the forms above."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if any(ip in network for network in IPV4_IN_LAST_32_BITS) and int(ip) > 1:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def is_private(address: str) -> bool:
    """True for addresses outside the public internet: loopback, private, link-local, …
    An IPv6 address that carries an IPv4 address is judged by the IPv4 it carries."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # a zone (fe80::1%eth0) is local
    if isinstance(ip, ipaddress.IPv6Address) and (carried := carried_ipv4(ip)):
        return any(is_private(str(v4)) for v4 in carried)
    return not ip.is_global or ip.is_multicast


async def check_target(url: str, allow_private: bool) -> None:
    """`InvalidWebhookTarget` unless `url` is an http(s) URL custid may send events to."""
    if (problem := grammar.WEBHOOK_URL.problem(url)) is not None:
        raise InvalidWebhookTarget(url, problem)
    try:
        parts = urlsplit(url)
        port = parts.port  # a port that is no number, or past 65535, is a ValueError
    except ValueError as exc:
        raise InvalidWebhookTarget(url, f"not a URL ({exc})") from exc
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        raise InvalidWebhookTarget(url, "must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise InvalidWebhookTarget(url, "must not carry credentials; the signature proves us")
    if allow_private:
        return
    try:
        addresses = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname,
            port or (443 if parts.scheme.lower() == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except (OSError, UnicodeError, ValueError) as exc:  # IDNA refuses some names outright
        raise InvalidWebhookTarget(url, f"its host does not resolve ({exc})") from exc
    resolved = {str(info[4][0]) for info in addresses}
    private = sorted(address for address in resolved if is_private(address))
    if private:
        raise InvalidWebhookTarget(
            url,
            f"resolves to a private or loopback address ({', '.join(private)}); "
            "set CUSTID_WEBHOOK_ALLOW_PRIVATE=true to allow it",
        )
