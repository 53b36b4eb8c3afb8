"""The harness's command line and settings. Every actor is bounded: by the profile's duration,
by ``--max-requests`` in total, and by its own in-flight limit.

Loopback only: a base URL (or a metrics URL, or a playback URL the server hands out) whose host
is not a loopback address is refused unless ``--allow-remote`` is given.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.load.profile import Profile

DEFAULT_API_MIX = "list=1,get=4,playback=3,patch=1"
API_KINDS = ("list", "get", "playback", "patch")


class ConfigError(ValueError):
    """A command line the harness refuses (non-loopback URL, bad mix, ...)."""


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in API_KINDS:
            raise ConfigError(f"unknown API request kind {name!r} (one of {', '.join(API_KINDS)})")
        try:
            mix[name] = float(weight)
        except ValueError:
            raise ConfigError(f"{part!r}: the weight must be a number") from None
        if mix[name] < 0:
            raise ConfigError(f"{part!r}: the weight must not be negative")
    if not mix or sum(mix.values()) <= 0:
        raise ConfigError("the API mix needs at least one positive weight")
    return mix


def parse_size(text: str) -> int:
    units = {"K": 1024, "M": 1024**2}
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = units.get(text[-1:], 1)
    number = int(text[:-1] if text[-1:] in units else text)
    if number < 1:
        raise ConfigError("a size must be at least one byte")
    return number * factor


@dataclass
class LoadConfig:
    base_url: str
    token: str | None = None
    metrics_urls: list[str] = field(default_factory=list)
    origin_metrics_urls: list[str] = field(default_factory=list)
    allow_remote: bool = False
    profile: Profile = field(default_factory=lambda: Profile("steady", duration_s=30))
    spike_uploads: bool = False
    max_requests: int = 1_000_000
    seed: int = 1
    timeout_s: float = 10.0
    # catalogue
    seed_videos: int = 0
    seed_clip_s: float = 8.0
    seed_timeout_s: float = 300.0
    max_catalogue: int = 1000
    zipf_s: float | None = None  # None: solved so that ~4% of videos draw ~90% of views
    # viewers
    viewer_rate: float = 1.0  # arrivals per second at 1x
    max_viewers: int = 200
    watch_s: float = 60.0
    start_rung: int = 0
    max_buffer_s: float = 12.0
    # API clients
    api_rate: float = 10.0  # requests per second at 1x, all kinds together
    api_mix: dict[str, float] = field(default_factory=lambda: parse_mix(DEFAULT_API_MIX))
    api_inflight: int = 64
    # uploaders
    upload_rate: float = 0.0  # uploads started per second at 1x
    max_uploads: int = 100
    upload_inflight: int = 4
    interrupt_prob: float = 0.5
    chunk_bytes: int = 256 * 1024
    upload_clip_s: float = 4.0
    drain_s: float = 60.0  # how long uploads in flight may finish after the deadline
    # output
    json_out: Path | None = None
    output_format: str = "rich"

    def check(self) -> None:
        urls = [self.base_url, *self.metrics_urls, *self.origin_metrics_urls]
        for url in urls:
            if urlsplit(url).scheme not in ("http", "https"):
                raise ConfigError(f"{url!r} is not an http(s) URL")
            if not self.allow_remote and not is_loopback(url):
                raise ConfigError(
                    f"{url} is not a loopback address; the harness drives loopback servers only "
                    "unless --allow-remote is given"
                )
        if not 0 <= self.interrupt_prob <= 1:
            raise ConfigError("--interrupt-prob must be between 0 and 1")
        for name in ("max_requests", "max_viewers", "api_inflight", "upload_inflight"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.load",
        description="Drive viewers, API clients and tus uploaders against a reelstream server.",
    )
    target = p.add_argument_group("target")
    target.add_argument("--base-url", help="the server or edge, e.g. http://127.0.0.1:8000")
    target.add_argument(
        "--cluster", type=Path, help="cluster.json of `reelstream cluster up`: edge, metrics, token"
    )
    target.add_argument("--token", help="an access token (write scope): PATCH and uploads")
    target.add_argument("--metrics-url", action="append", default=[], help="sampled every second")
    target.add_argument(
        "--origin-metrics-url", action="append", default=[], help="origin fetches are counted here"
    )
    target.add_argument("--allow-remote", action="store_true", help="permit non-loopback URLs")
    run = p.add_argument_group("run")
    run.add_argument("--profile", choices=("steady", "spike"), default="steady")
    run.add_argument("--duration", type=float, default=30.0, help="steady: seconds")
    run.add_argument("--baseline", type=float, default=30.0, help="spike: seconds before")
    run.add_argument("--ramp", type=float, default=10.0, help="spike: seconds to reach the peak")
    run.add_argument("--hold", type=float, default=60.0, help="spike: seconds at the peak")
    run.add_argument("--recovery", type=float, default=30.0, help="spike: seconds after")
    run.add_argument("--factor", type=float, default=10.0, help="spike: peak / baseline")
    run.add_argument("--spike-uploads", action="store_true", help="the spike applies to uploads")
    run.add_argument("--max-requests", type=int, default=1_000_000)
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    cat = p.add_argument_group("catalogue")
    cat.add_argument("--seed-videos", type=int, default=0, help="upload N generated clips first")
    cat.add_argument("--seed-clip-s", type=float, default=8.0)
    cat.add_argument("--seed-timeout", type=float, default=300.0)
    cat.add_argument("--max-catalogue", type=int, default=1000)
    cat.add_argument("--zipf-s", type=float, help="default: ~4%% of videos draw ~90%% of views")
    view = p.add_argument_group("viewers")
    view.add_argument("--viewer-rate", type=float, default=1.0, help="arrivals/s at 1x")
    view.add_argument("--max-viewers", type=int, default=200, help="watching at once")
    view.add_argument("--watch-s", type=float, default=60.0, help="each viewer's play time")
    view.add_argument("--start-rung", type=int, default=0, help="0 = lowest")
    view.add_argument("--max-buffer-s", type=float, default=12.0)
    api = p.add_argument_group("API clients")
    api.add_argument("--api-rate", type=float, default=10.0, help="requests/s at 1x")
    api.add_argument("--api-mix", default=DEFAULT_API_MIX)
    api.add_argument("--api-inflight", type=int, default=64)
    up = p.add_argument_group("uploaders")
    up.add_argument("--upload-rate", type=float, default=0.0, help="uploads/s at 1x")
    up.add_argument("--max-uploads", type=int, default=100)
    up.add_argument("--upload-inflight", type=int, default=4)
    up.add_argument("--interrupt-prob", type=float, default=0.5)
    up.add_argument("--chunk-size", default="256K")
    up.add_argument("--upload-clip-s", type=float, default=4.0)
    up.add_argument("--drain", type=float, default=60.0, help="seconds for uploads to finish")
    out = p.add_argument_group("output")
    out.add_argument("--json-out", type=Path)
    out.add_argument("--format", choices=("rich", "markdown"), default="rich")
    return p


def from_args(argv: list[str] | None = None) -> LoadConfig:
    a = build_parser().parse_args(argv)
    base_url, token = a.base_url, a.token
    metrics, origin_metrics = list(a.metrics_url), list(a.origin_metrics_url)
    if a.cluster is not None:
        cluster = json.loads(a.cluster.read_text())
        base_url = base_url or cluster["edge_url"]
        token = token or cluster.get("admin_token")
        apis = [f"{u.rstrip('/')}/metrics" for u in cluster.get("api_urls", [])]
        origins = [f"{u.rstrip('/')}/metrics" for u in cluster.get("origin_urls", [])]
        metrics = metrics or [*apis, *origins]
        origin_metrics = origin_metrics or origins
    if not base_url:
        raise ConfigError("give --base-url or --cluster")
    base_url = base_url.rstrip("/")
    if not metrics:  # the embedded server: one process serves API and origin
        metrics = [f"{base_url}/metrics"]
    # /media requests are counted wherever they are served (an API-only process has none)
    origin_metrics = origin_metrics or metrics
    cfg = LoadConfig(
        base_url=base_url,
        token=token,
        metrics_urls=metrics,
        origin_metrics_urls=origin_metrics,
        allow_remote=a.allow_remote,
        profile=Profile(
            a.profile,
            duration_s=a.duration,
            baseline_s=a.baseline,
            ramp_s=a.ramp,
            hold_s=a.hold,
            recovery_s=a.recovery,
            factor=a.factor,
        ),
        spike_uploads=a.spike_uploads,
        max_requests=a.max_requests,
        seed=a.seed,
        timeout_s=a.timeout,
        seed_videos=a.seed_videos,
        seed_clip_s=a.seed_clip_s,
        seed_timeout_s=a.seed_timeout,
        max_catalogue=a.max_catalogue,
        zipf_s=a.zipf_s,
        viewer_rate=a.viewer_rate,
        max_viewers=a.max_viewers,
        watch_s=a.watch_s,
        start_rung=a.start_rung,
        max_buffer_s=a.max_buffer_s,
        api_rate=a.api_rate,
        api_mix=parse_mix(a.api_mix),
        api_inflight=a.api_inflight,
        upload_rate=a.upload_rate,
        max_uploads=a.max_uploads,
        upload_inflight=a.upload_inflight,
        interrupt_prob=a.interrupt_prob,
        chunk_bytes=parse_size(a.chunk_size),
        upload_clip_s=a.upload_clip_s,
        drain_s=a.drain,
        json_out=a.json_out,
        output_format=a.format,
    )
    cfg.check()
    return cfg
