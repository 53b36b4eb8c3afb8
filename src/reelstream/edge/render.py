"""Render an ``EdgeConfig`` into ``nginx.conf`` + the njs token script, write and check them.

Two files are written side by side: ``FILE`` (the complete nginx configuration, mode 0644) and
``FILE`` with the suffix ``.token.js`` (the njs module that verifies playback tokens, with the
signing keys inside, mode 0600: only nginx's master process, running as root, reads it when it
loads the configuration). The keys never appear in ``nginx.conf``; in the script they are a
JSON object literal (``json.dumps``, ASCII only), so no key can break out of its string.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jinja2

from reelstream import __version__
from reelstream.delivery.media import MANIFEST_SUFFIXES, MAX_DEPTH
from reelstream.edge.config import EdgeConfig, check_path
from reelstream.edge.errors import EdgeConfigError, NginxCheckFailed
from reelstream.storage.keys import PART_PATTERN

_PART = PART_PATTERN
"""One part of a media path, as ``reelstream.delivery.media.is_safe_path`` accepts it (both
derive it from ``reelstream.storage.keys``)."""

_MEDIA_PREFIX = (
    r"^/media/(?<media_vid>[A-Za-z0-9]{16})/(?<media_rev>[a-z0-9]{12})/(?<media_token>[^/]+)/"
)
_PATH = rf"(?!.*\.\.)(?:{_PART}/){{0,{MAX_DEPTH - 1}}}{_PART}"
_MANIFEST = "|".join(sorted(s.lstrip(".") for s in MANIFEST_SUFFIXES))

MEDIA_REGEX = {
    # Playlists first: nginx takes the first regex location that matches.
    "playlist": rf"{_MEDIA_PREFIX}(?<media_path>(?=.*\.(?i:{_MANIFEST})$){_PATH})$",
    "segment": rf"{_MEDIA_PREFIX}(?<media_path>{_PATH})$",
}
"""The two cached media locations. A path the origin would refuse as unsafe matches neither and
goes, uncached, to the origin, which answers it with its JSON 404."""


@dataclass(frozen=True)
class EdgeFiles:
    """The rendered text of both files, and where they go."""

    conf_path: Path
    js_path: Path
    nginx_conf: str
    token_js: str


def js_path_for(conf_path: Path) -> Path:
    return conf_path.with_name(conf_path.name + ".token.js")


def _quote(value: object) -> str:
    """A double-quoted nginx string. Values are validated first (``check_path``), so there is
    nothing to escape; refuse rather than guess if that ever stops being true."""
    text = str(value)
    if any(c in text for c in '"\\$;{}\n\r\t'):
        raise EdgeConfigError(f"{text!r} cannot be written into the nginx configuration")
    return f'"{text}"'


def _environment() -> jinja2.Environment:
    # nginx and JavaScript text, not HTML: values are validated (config.py), never escaped.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("reelstream.edge", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(enabled_extensions=(), default=False),
    )


def render(config: EdgeConfig, conf_path: Path) -> EdgeFiles:
    """The text of ``nginx.conf`` (to be written at ``conf_path``) and of its token script."""
    conf_path = check_path(conf_path, "output file")
    js_path = js_path_for(conf_path)
    env = _environment()
    nginx_conf = env.get_template("nginx.conf.j2").render(
        version=__version__,
        conf_path=conf_path,
        js_path=js_path,
        q=_quote,
        njs_module=config.njs_module,
        user=config.user,
        worker_processes=config.worker_processes,
        worker_connections=config.worker_connections,
        prefix=str(config.prefix),
        cache_dir=config.cache_dir,
        cache_size=config.cache_size,
        keys_zone_size=config.keys_zone_size,
        inactive=config.inactive,
        origins=config.origins,
        apis=config.api_upstreams,
        max_fails=config.max_fails,
        fail_timeout=config.fail_timeout,
        listen=config.listen,
        media_regex=MEDIA_REGEX,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        segment_ttl=config.segment_ttl,
        playlist_ttl=config.playlist_ttl,
        lock_timeout=config.lock_timeout,
        open_files=config.open_files,
        status_listen=config.status_listen,
    )
    keys_json = json.dumps(dict(sorted(config.signing_keys.items())), ensure_ascii=True)
    token_js = env.get_template("token.js.j2").render(keys_json=keys_json)
    return EdgeFiles(conf_path, js_path, nginx_conf, token_js)


def _write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write(config: EdgeConfig, conf_path: Path) -> EdgeFiles:
    """Render and write both files (atomically), and create the folders nginx will need."""
    files = render(config, conf_path)
    files.conf_path.parent.mkdir(parents=True, exist_ok=True)
    for sub in ("logs", "tmp"):
        (config.prefix / sub).mkdir(parents=True, exist_ok=True)
    config.cache_dir.mkdir(parents=True, exist_ok=True)
    _write(files.js_path, files.token_js, 0o600)
    _write(files.conf_path, files.nginx_conf, 0o644)
    return files


def find_nginx(nginx: str | None = None) -> str | None:
    return shutil.which(nginx or "nginx") or shutil.which("/usr/sbin/nginx")


def check(conf_path: Path, prefix: Path, nginx: str = "nginx", timeout: float = 60) -> str:
    """Run ``nginx -t`` on a written configuration; return its report or raise."""
    try:
        out = subprocess.run(
            [nginx, "-t", "-q", "-c", str(conf_path), "-p", str(prefix), "-e", "stderr"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NginxCheckFailed(f"could not run {nginx} -t: {exc}") from exc
    report = (out.stdout + out.stderr).strip()
    if out.returncode != 0:
        raise NginxCheckFailed(f"nginx -t refused {conf_path}:\n{report}")
    return report
