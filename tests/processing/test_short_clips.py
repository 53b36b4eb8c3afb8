"""Clips shorter than the storyboard's interval (issue 9, defect 5): half a second, one frame,
two frames, exactly one second, H.264 and MJPEG, no audio. Each is published at the first
attempt, plays, and has a poster and a storyboard of at least one tile."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reelstream.services import Services
from tests.processing.conftest import queue_video, transcode_next
from tests.processing.test_pipeline import check_published
from tests.support import FFMPEG

PATTERN = "testsrc=size=320x240:rate=25"

# name -> (lavfi source options, output options)
CLIPS: dict[str, tuple[str, list[str]]] = {
    "half-second-h264": (f"{PATTERN}:duration=0.52", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    "one-frame-h264": (PATTERN, ["-frames:v", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    "one-frame-mjpeg": (PATTERN, ["-frames:v", "1", "-c:v", "mjpeg"]),
    "two-frames-h264": (PATTERN, ["-frames:v", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p"]),
    "one-second-h264": (f"{PATTERN}:duration=1", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
}


def short_clip(folder: Path, name: str) -> Path:
    source, output = CLIPS[name]
    path = folder / f"{name}.mp4"
    cmd = [FFMPEG, "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi", "-i", source]
    subprocess.run([*cmd, *output, str(path)], check=True, timeout=60)
    return path


@pytest.mark.parametrize("name", sorted(CLIPS))
async def test_short_clip_is_published(services: Services, tmp_path: Path, name: str) -> None:
    source = short_clip(tmp_path, name)
    vid = await queue_video(services, source)
    assert await transcode_next(services) == "published"
    video = await check_published(services, vid, source)  # attempts == 1, poster, storyboard
    assert [(r.width, r.height) for r in video.renditions] == [(320, 240)]
    assert video.has_audio is False
