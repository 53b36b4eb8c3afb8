"""Which URLs may receive webhooks.

A URL must be ``http`` or ``https`` with a host, carry no credentials and be at most 2000
characters. Unless ``webhook_allow_private`` is on (the default in development only), its
host must not be or resolve to a loopback, private, link-local, reserved, multicast or
unspecified address: the server must not become a way to reach the operator's internal
network. The check runs when an endpoint is registered and again before every delivery (a
name may be re-pointed later).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from reelstream.webhooks.errors import InvalidWebhook

MAX_URL_LENGTH = 2000


def check_url(url: str) -> str:
    """The URL, stripped, if its form is acceptable; raises ``InvalidWebhook``."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise InvalidWebhook(f"a webhook URL has 1 to {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidWebhook(f"the webhook URL is malformed: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidWebhook("a webhook URL must start with http:// or https://")
    if not parts.hostname:
        raise InvalidWebhook("a webhook URL needs a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhook("a webhook URL must not contain credentials (user:password@)")
    if any(c.isspace() for c in url):
        raise InvalidWebhook("a webhook URL must not contain whitespace")
    return url


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


async def private_address_of(url: str) -> str | None:
    """A private address the URL's host is or resolves to, if any (None: all public).
    A host that does not resolve gives None: delivering to it will fail and be retried."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return host
    try:
        return host if _is_private(host) else None
    except ValueError:
        pass  # a name, not an address
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return None
    for info in infos:
        address = str(info[4][0])
        if _is_private(address):
            return address
    return None


async def check_destination(url: str, *, allow_private: bool) -> None:
    """Raise ``InvalidWebhook`` when the URL points into a private network (and that is
    not allowed)."""
    if allow_private:
        return
    found = await private_address_of(url)
    if found is not None:
        raise InvalidWebhook(
            f"the webhook URL points to a private or loopback address ({found}); "
            "set webhook_allow_private to allow that"
        )
