"""Which URLs may receive webhooks, and which address a delivery connects to.

A URL must be ``http`` or ``https`` with a host, carry no credentials and be at most 2000
characters. Unless ``webhook_allow_private`` is on (the default in development only), every
address its host is or resolves to must be globally routable: ``ipaddress``'s ``is_global``
and not multicast, and for the IPv6 forms that carry an IPv4 address (IPv4-mapped
``::ffff:0:0/96``, IPv4-compatible ``::/96``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) the
embedded IPv4 address too, since ``is_global`` of the IPv6 address alone does not look inside.
A host written as a non-canonical number (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) is
refused outright: resolvers read those as addresses. The server must not become a way to reach
the operator's internal network or a cloud metadata service.

The check runs when an endpoint is registered and again before every delivery, after
resolving the name (it may have been re-pointed since): ``resolve_destination`` checks every
address the name resolves to and returns one of them, and the dispatcher connects to that
address (keeping the name for ``Host`` and TLS), so a second lookup cannot change where it
goes. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from reelstream.webhooks.errors import InvalidWebhook

MAX_URL_LENGTH = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
# A label that resolvers read as (part of) an IPv4 number: decimal, octal or hex.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


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


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def non_global_reason(ip: IPAddress) -> str | None:
    """Why the address must not receive webhooks (None: it is globally routable)."""
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return "local-use NAT64"
        inner = _embedded_ipv4(ip)
        if inner is not None:
            why = non_global_reason(inner)
            return None if why is None else f"wraps {inner}, {why}"
    if not ip.is_global:
        return "not globally routable"
    return None


def _literal(host: str) -> IPAddress | None:
    """The address a host is when written as one (None: it is a name)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".")


def _refuse(url_host: str, address: str, why: str) -> InvalidWebhook:
    shown = url_host if url_host == address else f"{url_host} -> {address}"
    return InvalidWebhook(
        f"the webhook URL points to an address that is not globally routable ({shown}: {why}); "
        "private, loopback and internal addresses are refused (webhook_allow_private allows them)"
    )


def _check_name(host: str) -> None:
    if host == "localhost" or host.endswith(".localhost"):
        raise _refuse(host, host, "loopback name")
    last = host.rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.match(last):
        raise _refuse(host, host, "an address in a non-canonical numeric form")


async def _resolve(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for info in infos:
        ip = _literal(str(info[4][0]))
        if ip is not None and ip not in found:
            found.append(ip)
    return found


async def check_destination(url: str, *, allow_private: bool) -> None:
    """At registration: raise ``InvalidWebhook`` when the URL's host is, or resolves to, an
    address that is not globally routable (and that is not allowed). A name that does not
    resolve now is accepted: every delivery resolves and checks it again."""
    if allow_private:
        return
    host = _host_of(url)
    ip = _literal(host)
    if ip is not None:
        why = non_global_reason(ip)
        if why is not None:
            raise _refuse(host, str(ip), why)
        return
    _check_name(host)
    try:
        addresses = await _resolve(host, 0)
    except OSError:
        return
    for address in addresses:
        why = non_global_reason(address)
        if why is not None:
            raise _refuse(host, str(address), why)


@dataclass(frozen=True)
class Destination:
    """Where one delivery goes: the URL to connect to (its host replaced by a checked
    address), the ``Host`` header, and the name TLS verifies the certificate against."""

    url: str
    host_header: str | None
    sni_hostname: str | None


async def resolve_destination(url: str, *, allow_private: bool) -> Destination:
    """Resolve the URL's host, check every address, and pin the delivery to one of them.
    Raises ``InvalidWebhook`` when one address is not globally routable or the name does not
    resolve. With ``allow_private`` the URL is used as it is."""
    if allow_private:
        return Destination(url, None, None)
    parts = urlsplit(url)
    host = _host_of(url)
    ip = _literal(host)
    if ip is not None:
        why = non_global_reason(ip)
        if why is not None:
            raise _refuse(host, str(ip), why)
        return Destination(url, None, None)
    _check_name(host)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await _resolve(host, port)
    except OSError as exc:
        raise InvalidWebhook(f"the webhook host {host} does not resolve: {exc}") from exc
    if not addresses:
        raise InvalidWebhook(f"the webhook host {host} does not resolve")
    for address in addresses:
        why = non_global_reason(address)
        if why is not None:
            raise _refuse(host, str(address), why)
    chosen = addresses[0]
    literal = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return Destination(pinned, host_header, host if parts.scheme == "https" else None)
