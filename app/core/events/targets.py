"""Where webhooks may be sent: http(s) URLs, and (unless allowed) no private address.

A numbering service sits inside a company's network; a subscription that
pointed at 127.0.0.1 or 10.0.0.5 would let any admin key make it call
internal services. So by default a target must resolve to public addresses
only, checked when the subscription is saved and again before each delivery
(a name may resolve differently later), and when the connection is made: a
name re-pointed at 10.0.0.5 after the check still never gets a connection.
"""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from app.core import grammar
from app.core.errors import InvalidWebhookTarget

SCHEMES = ("http", "https")


def is_private(address: str) -> bool:
    """True for addresses outside the public internet: loopback, private, link-local, …"""
    ip = ipaddress.ip_address(address)
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
