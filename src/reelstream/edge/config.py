"""What an edge configuration is made of, validated before a line of nginx is written.

``EdgeConfig`` holds every choice as a plain, already-validated value; ``edge_config`` builds one
from the strings an operator types (origin URLs, ``10g``, ``2s``). Every value that ends up in
nginx's configuration language is checked against a narrow grammar here, so the renderer never
has to quote or escape anything an operator wrote: a value that could change the meaning of the
configuration (a ``;``, a quote, a ``$`` variable, a newline) is refused with a clear
``EdgeConfigError`` instead.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reelstream.edge.errors import EdgeConfigError

NJS_MODULE = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")
"""Debian's njs module (package ``libnginx-mod-http-js``)."""

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_SIZE = re.compile(r"^[1-9][0-9]{0,12}[kKmMgG]?$")
_DURATION = re.compile(r"^[1-9][0-9]{0,9}(?:ms|s|m|h|d|w|M|y)?$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}\$?(?: [a-z_][a-z0-9_-]{0,31})?$")
_WORKERS = re.compile(r"^(?:auto|[1-9][0-9]{0,3})$")
_KID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_PATH_UNSAFE = re.compile(r"[^A-Za-z0-9_./@+,=~ -]")


@dataclass(frozen=True)
class Upstream:
    """One ``host:port`` an nginx ``upstream`` block can name."""

    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_upstream_url(url: str, what: str = "origin") -> Upstream:
    """``http://host[:port][/]`` -> ``Upstream``; anything else is a clear ``EdgeConfigError``.

    Only plain HTTP is accepted: the edge talks to origins and api servers over a private
    network, and a path, query, fragment or credentials in the URL would be silently ignored by
    nginx's ``upstream`` block, so they are refused instead.
    """
    text = url.strip()
    bad = f"{what} URL {url!r}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise EdgeConfigError(f"{bad} is not a valid URL: {exc}") from exc
    if parts.scheme != "http":
        raise EdgeConfigError(f"{bad} must start with http:// (e.g. http://10.0.0.5:8000)")
    if parts.username is not None or parts.password is not None:
        raise EdgeConfigError(f"{bad} must not contain credentials")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise EdgeConfigError(f"{bad} must be a bare http://host:port, without a path or query")
    host = parts.hostname
    if not host:
        raise EdgeConfigError(f"{bad} has no host")
    return Upstream(_render_host(host, bad), 80 if port is None else _check_port(port, bad))


def _check_port(port: int, bad: str) -> int:
    if not 0 < port < 65536:
        raise EdgeConfigError(f"{bad} has port {port}, outside 1-65535")
    return port


def _render_host(host: str, bad: str) -> str:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.fullmatch(host):
            raise EdgeConfigError(f"{bad} has an invalid host name {host!r}") from None
        return host.lower()
    return f"[{ip}]" if ip.version == 6 else str(ip)


def parse_listen(value: str) -> str:
    """``PORT``, ``HOST:PORT`` or ``[IPV6]:PORT`` -> the argument of nginx's ``listen``."""
    text = value.strip()
    bad = f"listen address {value!r}"
    host, sep, port_s = text.rpartition(":")
    if not sep:
        host, port_s = "", text
    if not port_s.isdigit():
        raise EdgeConfigError(f"{bad} must be PORT or HOST:PORT (e.g. 127.0.0.1:8080)")
    port = _check_port(int(port_s), bad)
    if not host:
        return str(port)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return f"{_render_host(host, bad)}:{port}"


def check_loopback_listen(value: str, what: str) -> str:
    """A ``HOST:PORT`` whose host is a loopback address (a server only this machine reaches)."""
    rendered = parse_listen(value)
    host = rendered.rpartition(":")[0].strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise EdgeConfigError(
            f"{what} {value!r} must be a loopback HOST:PORT (e.g. 127.0.0.1:9145)"
        )
    return rendered


def check_size(value: str, what: str) -> str:
    """An nginx size (``512m``, ``10g``, ``4096``), normalised to lower case."""
    if not _SIZE.fullmatch(value.strip()):
        raise EdgeConfigError(f"{what} {value!r} must be a number with an optional k, m or g")
    return value.strip().lower()


def check_duration(value: str, what: str) -> str:
    """An nginx time (``500ms``, ``2s``, ``10m``, ``365d``)."""
    if not _DURATION.fullmatch(value.strip()):
        raise EdgeConfigError(
            f"{what} {value!r} must be a number with an optional unit ms, s, m, h, d, w, M or y"
        )
    return value.strip()


def _check_safe_path(path: Path, what: str) -> Path:
    if not path.is_absolute():
        raise EdgeConfigError(f"{what} {str(path)!r} must be an absolute path")
    bad = _PATH_UNSAFE.search(str(path))
    if bad:
        raise EdgeConfigError(
            f"{what} {str(path)!r} contains {bad.group()!r}; use letters, digits, "
            "spaces and ._-/@+,=~ only"
        )
    return path


def check_path(path: Path, what: str) -> Path:
    """An absolute path nginx can take verbatim (it is rendered inside double quotes)."""
    return _check_safe_path(path.expanduser().resolve(), what)


@dataclass(frozen=True)
class EdgeConfig:
    """Everything the nginx configuration is rendered from (see docs/deploy.md)."""

    origins: tuple[Upstream, ...]
    """Origins (``reelstream origin``) that serve ``/media``; segment URLs hash across them."""
    listen: str
    cache_dir: Path
    prefix: Path
    """Folder for nginx's pid file, logs (``logs/``) and temporary files (``tmp/``)."""
    signing_keys: Mapping[str, str] = field(repr=False)
    """Key id -> secret, exactly as the origins verify tokens (old and new during a rotation)."""
    apis: tuple[Upstream, ...] = ()
    """Where everything but ``/media`` goes (API, uploads, pages); the origins when empty."""
    cache_size: str = "10g"
    keys_zone_size: str = "64m"
    """Shared memory for cache keys: about 8000 cached files per megabyte."""
    segment_ttl: str = "365d"
    playlist_ttl: str = "2s"
    inactive: str = "30d"
    """A cached file nobody asked for in this long is evicted (stale copies included)."""
    lock_timeout: str = "10s"
    connect_timeout: str = "1s"
    read_timeout: str = "15s"
    max_fails: int = 2
    fail_timeout: str = "2s"
    """How long a failing upstream is skipped (and the window its failures are counted in).
    Short: when every api (or origin) failed within it, nginx has no live upstream and answers
    503 until it passes, even if they are all back (the chaos campaign saw 10 s of that); a
    dead server costs one refused connection per window, a blackholed one ``connect_timeout``."""
    user: str | None = None
    """``user`` directive for worker processes (when the master runs as root)."""
    worker_processes: str = "auto"
    worker_connections: int = 4096
    open_files: int = 1000
    """Cached segment files each worker keeps open between hits (``open_file_cache``)."""
    njs_module: Path = NJS_MODULE
    status_listen: str | None = None
    """A loopback ``HOST:PORT`` serving nginx's ``stub_status`` at ``/stub_status`` (for
    prometheus-nginx-exporter); None: no status server."""

    def __post_init__(self) -> None:
        if self.status_listen is not None:
            check_loopback_listen(self.status_listen, "status listen address")
        if not self.origins:
            raise EdgeConfigError("at least one origin is required (--origin http://host:port)")
        for what, group in (("origin", self.origins), ("api", self.apis)):
            addresses = [u.address for u in group]
            if len(set(addresses)) != len(addresses):
                raise EdgeConfigError(f"the same {what} is listed twice: {addresses}")
        if not self.signing_keys:
            raise EdgeConfigError("no signing keys: the edge could not verify any token")
        for kid, key in self.signing_keys.items():
            if not _KID.fullmatch(kid):
                raise EdgeConfigError(f"signing key id {kid!r} must be 1-32 letters or digits")
            if not key:
                raise EdgeConfigError(f"signing key {kid!r} is empty")
        check_size(self.cache_size, "cache size")
        check_size(self.keys_zone_size, "keys zone size")
        for what, value in (
            ("segment TTL", self.segment_ttl),
            ("playlist TTL", self.playlist_ttl),
            ("inactive time", self.inactive),
            ("lock timeout", self.lock_timeout),
            ("connect timeout", self.connect_timeout),
            ("read timeout", self.read_timeout),
            ("fail timeout", self.fail_timeout),
        ):
            check_duration(value, what)
        if self.max_fails < 0:
            raise EdgeConfigError("max_fails must be 0 (never mark an origin down) or more")
        if self.user is not None and not _USER.fullmatch(self.user):
            raise EdgeConfigError(f"worker user {self.user!r} must be 'USER' or 'USER GROUP'")
        if not _WORKERS.fullmatch(self.worker_processes):
            raise EdgeConfigError("worker_processes must be 'auto' or a number")
        if not 64 <= self.worker_connections <= 1_000_000:
            raise EdgeConfigError("worker_connections must be between 64 and 1000000")
        if not 1 <= self.open_files <= 1_000_000:
            raise EdgeConfigError("open_files must be between 1 and 1000000")
        for what, path in (
            ("cache dir", self.cache_dir),
            ("prefix", self.prefix),
            ("njs module", self.njs_module),
        ):
            _check_safe_path(path, what)

    @property
    def api_upstreams(self) -> tuple[Upstream, ...]:
        return self.apis or self.origins


def edge_config(
    *,
    origins: Sequence[str],
    listen: str,
    cache_dir: Path,
    prefix: Path,
    signing_keys: Mapping[str, str],
    apis: Sequence[str] = (),
    cache_size: str = "10g",
    keys_zone_size: str = "64m",
    **options: Any,
) -> EdgeConfig:
    """Build an ``EdgeConfig`` from operator input (URLs, sizes, relative paths)."""
    return EdgeConfig(
        origins=tuple(parse_upstream_url(u, "origin") for u in origins),
        apis=tuple(parse_upstream_url(u, "api") for u in apis),
        listen=parse_listen(listen),
        cache_dir=check_path(cache_dir, "cache dir"),
        prefix=check_path(prefix, "prefix"),
        signing_keys=dict(signing_keys),
        cache_size=check_size(cache_size, "cache size"),
        keys_zone_size=check_size(keys_zone_size, "keys zone size"),
        **options,
    )
