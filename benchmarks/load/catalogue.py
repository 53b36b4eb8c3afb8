"""The catalogue the viewers and API clients draw from: the server's ready public videos, listed
through the API (cursor paging, bounded by ``max_catalogue``), after optionally uploading
``seed_videos`` generated clips and waiting (bounded) until they are ready.

Clips are generated with imageio-ffmpeg's ffmpeg from lavfi sources (a moving test pattern and
a tone, 320x180, low bit rate): small to upload, quick to transcode.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import imageio_ffmpeg

from benchmarks.load.recorder import Recorder
from benchmarks.load.uploaders import upload

PAGE = 100
POLL_S = 0.5


@dataclass(frozen=True)
class Video:
    id: str
    title: str
    duration_s: float


def make_clip(seconds: float, *, frequency: int = 440) -> bytes:
    """An H.264/AAC MP4 of ``seconds`` (320x180, 30 fps, ~200 kb/s) as bytes."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory(prefix="reelstream-load-") as tmp:
        out = Path(tmp) / "clip.mp4"
        cmd = [ffmpeg, "-nostdin", "-y", "-loglevel", "error"]
        cmd += ["-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=30:duration={seconds}"]
        cmd += ["-f", "lavfi", "-i", f"sine=frequency={frequency}:duration={seconds}"]
        cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "200k", "-pix_fmt", "yuv420p"]
        cmd += ["-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", str(out)]
        subprocess.run(cmd, check=True, timeout=120)
        return out.read_bytes()


async def list_ready(http: httpx.AsyncClient, base_url: str, limit: int) -> list[Video]:
    """Ready public videos, newest first, at most ``limit`` (bounded paging)."""
    videos: list[Video] = []
    cursor: str | None = None
    for _ in range(max(1, -(-limit // PAGE))):
        params: dict[str, str | int] = {"status": "ready", "limit": min(PAGE, limit)}
        if cursor:
            params["cursor"] = cursor
        r = await http.get(f"{base_url}/api/v1/videos", params=params)
        r.raise_for_status()
        page = r.json()
        for item in page["items"]:
            if item.get("playable", True):
                videos.append(Video(item["id"], item["title"], item.get("duration_s") or 0.0))
        cursor = page.get("next_cursor")
        if not cursor or len(videos) >= limit:
            break
    return videos[:limit]


async def seed(
    http: httpx.AsyncClient,
    recorder: Recorder,
    base_url: str,
    count: int,
    *,
    clip_s: float,
    timeout_s: float,
    rng: random.Random,
) -> list[str]:
    """Upload ``count`` generated clips and wait until each is ready (or failed); the ids."""
    if count <= 0:
        return []
    data = await asyncio.to_thread(make_clip, clip_s)
    ids: list[str] = []
    for i in range(count):
        result = await upload(
            http,
            recorder,
            base_url,
            data,
            title=f"load seed {i + 1}",
            chunk_bytes=len(data),
            interrupt_prob=0.0,
            rng=rng,
        )
        if not result.acknowledged or result.video_id is None:
            raise RuntimeError(f"seeding: upload {i + 1} was not acknowledged: {result.error}")
        ids.append(result.video_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pending = set(ids)
    while pending and loop.time() < deadline:
        for vid in sorted(pending):
            r = await http.get(f"{base_url}/api/v1/videos/{vid}")
            if r.status_code == 200 and r.json()["status"] in ("ready", "failed"):
                pending.discard(vid)
        if pending:
            await asyncio.sleep(POLL_S)
    if pending:
        raise RuntimeError(f"seeding: {len(pending)} video(s) not ready after {timeout_s:.0f} s")
    return ids
