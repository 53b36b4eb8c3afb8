"""Playing a published video as a viewer gets it, to the end: the chaos checker's media check.

For one video: ``GET /api/v1/videos/{id}/playback`` through the edge (anonymous, like a
player), the master playlist it signs, then every variant and audio playlist it names. Every
URI a playlist names (init and segments) must answer 200, and each playlist must decode to its
end with ffmpeg (``-xerror``) with the duration of the stored source ± ``tolerance_s``. The
source's duration is measured the same way, by decoding the stored source (downloaded from the
object store, not through the server), so both sides are measured by one tool.

Playlists are read with the load harness's own parser (``benchmarks.load.hls``), which is
independent of the code that writes them.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import imageio_ffmpeg

from benchmarks.chaos.stored import ObjectReader
from benchmarks.load.hls import parse_master, parse_media

FFMPEG_TIMEOUT_S = 300.0
_TIME = re.compile(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)")
_BAD_LINES = ("Failed to open segment", "Error ", "error while decoding", "Invalid data")


@dataclass
class PlaybackResult:
    video_id: str
    playlists: int = 0
    segments: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Decoded:
    ok: bool
    duration_s: float | None
    error: str


def decode(url_or_path: str, stream: str, timeout_s: float = FFMPEG_TIMEOUT_S) -> Decoded:
    """Decode stream ``stream`` (``v`` or ``a``) of an input to the end; its duration is the
    last timestamp ffmpeg reports."""
    argv = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-xerror"]
    argv += ["-i", url_or_path, "-map", f"0:{stream}:0", "-f", "null", "-"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return Decoded(False, None, f"ffmpeg did not finish in {timeout_s:.0f} s")
    times = _TIME.findall(out.stderr)
    duration = None
    if times:
        h, m, s = times[-1]
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    bad = [line for line in out.stderr.splitlines() if any(b in line for b in _BAD_LINES)]
    if out.returncode != 0 or bad or duration is None:
        lines = bad or out.stderr.strip().splitlines()[-1:] or ["no output"]
        return Decoded(False, duration, f"exit {out.returncode}: {'; '.join(lines[:3])[:300]}")
    return Decoded(True, duration, "")


def source_durations(store: ObjectReader, key: str) -> dict[str, float | None] | None:
    """The stored source's video and audio durations; None when it cannot be read."""
    with tempfile.TemporaryDirectory(prefix="chaos-source-") as tmp:
        path = Path(tmp) / "source"
        if not store.download(key, path):
            return None
        video = decode(str(path), "v")
        audio = decode(str(path), "a")
    return {
        "v": video.duration_s if video.ok else None,
        "a": audio.duration_s if audio.ok else None,
    }


def check_playback(
    http: httpx.Client,
    edge_url: str,
    video_id: str,
    durations: dict[str, float | None],
    tolerance_s: float,
) -> PlaybackResult:
    """Every variant and audio playlist of the video, fetched and decoded through the edge."""
    res = PlaybackResult(video_id)
    r = http.get(f"{edge_url.rstrip('/')}/api/v1/videos/{video_id}/playback")
    if r.status_code != 200:
        res.problems.append(f"playback: HTTP {r.status_code}")
        return res
    hls_url = httpx.URL(r.json()["hls_url"])
    m = http.get(hls_url)
    if m.status_code != 200:
        res.problems.append(f"master {hls_url.path}: HTTP {m.status_code}")
        return res
    master = parse_master(m.text)
    playlists = [("v", hls_url.join(v.uri)) for v in master.variants]
    playlists += [("a", hls_url.join(uri)) for uri in sorted(set(master.audio.values()))]
    for stream, url in playlists:
        res.playlists += 1
        name = url.path.rsplit("/", 2)[-2:]
        label = "/".join(name)
        p = http.get(url)
        if p.status_code != 200:
            res.problems.append(f"{label}: HTTP {p.status_code}")
            continue
        media = parse_media(p.text)
        uris = ([media.init_uri] if media.init_uri else []) + [s.uri for s in media.segments]
        if not media.segments:
            res.problems.append(f"{label}: names no segment")
        for uri in uris:
            res.segments += 1
            got = http.get(url.join(uri))
            if got.status_code != 200:
                res.problems.append(f"{label} names {uri}: HTTP {got.status_code}")
        expected = durations.get(stream) or durations.get("v")
        if "#EXT-X-ENDLIST" not in p.text:  # ffmpeg (a player) would wait for more
            res.problems.append(f"{label}: no #EXT-X-ENDLIST, not a finished playlist")
            continue
        decoded = decode(str(url), stream, 30 + 4 * (expected or 0))
        if not decoded.ok:
            res.problems.append(f"{label} does not decode to the end: {decoded.error}")
        elif expected is None:
            res.problems.append(f"{label}: the source's duration is unknown")
        elif decoded.duration_s is None or abs(decoded.duration_s - expected) > tolerance_s:
            res.problems.append(
                f"{label} lasts {decoded.duration_s} s, the source {expected:.3f} s"
            )
    return res
