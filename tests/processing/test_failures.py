"""Failures a worker meets, and what users read about them (issue 9, defects 5 and 7d).

A deterministic failure (the same input fails again: the probe refuses it, ffmpeg rejects it
with a status that says so, its header lies about its picture) fails the video at the first
attempt with a plain reason. A transient one (a crashed encoder, a timeout) keeps the retry
policy. No reason users can read (the video's ``error``, the job's ``last_error``, the
timeline's stage errors, the webhook payload) quotes ffmpeg, a memory address or a server path.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from reelstream.db.models import Job, Video
from reelstream.queue.kinds import TRANSCODE
from reelstream.services import Services
from reelstream.videos import repository as videos
from reelstream.webhooks.events import video_data
from tests.media.lying_header import lying_ts
from tests.processing.conftest import queue_video, transcode_next
from tests.support import FAULTY_REASON, FFMPEG, FaultyFFmpeg

LEAKS = ("@", "[out#", "[vost#", "/tmp", "ffmpeg", "Traceback")
ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+")  # a memory address (not a size like 4320x7680)


@pytest.fixture
def faulty(services: Services, tmp_path: Path) -> FaultyFFmpeg:
    wrapper = FaultyFFmpeg(tmp_path / "faulty")
    services.settings.ffmpeg_path = str(wrapper.path)
    return wrapper


async def load(services: Services, video_id: str) -> tuple[Video, Job]:
    async with services.db.read() as s:
        video = await videos.get_video(s, video_id)
        job = (
            await s.execute(select(Job).where(Job.video_id == video_id, Job.kind == TRANSCODE))
        ).scalar_one()
    return video, job


def readable_reasons(video: Video, job: Job) -> list[str]:
    """Every reason a user (or a webhook receiver) can read about this failure."""
    reasons = [video.error, job.last_error, video_data(video)["error"]]
    reasons += [stage.get("error") for stage in job.stages or []]
    return [r for r in reasons if r]


def assert_plain(reasons: list[str], data_dir: Path) -> None:
    assert reasons
    for reason in reasons:
        assert not ADDRESS.search(reason), reason
        for leak in (*LEAKS, str(data_dir)):
            assert leak not in reason, (leak, reason)


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def _clip_cut(folder: Path, keep: Callable[[bytes], bytes], name: str) -> Path:
    whole = folder / "whole.mp4"
    subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25:duration=2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            str(whole),
        ],
        check=True,
        timeout=60,
    )
    path = folder / name
    path.write_bytes(keep(whole.read_bytes()))
    return path


def _audio_only(folder: Path) -> Path:
    path = folder / "audio-only.ts"
    subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-y",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1",
            "-c:a",
            "aac",
            "-f",
            "mpegts",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


# hostile media that must fail at once: name -> (make the file, the reason users read)
HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "10 KB TS claiming 4320x7680": (
        lambda d: lying_ts(d / "lying.ts"),
        "far more than a file of 10 KB can hold; its header does not match its content",
    ),
    "bigger TS claiming 4320x7680 (its keyframe gives it away)": (
        lambda d: lying_ts(d / "big-liar.ts", seconds=2, source="testsrc2=size=640x352"),
        "the first picture cannot be decoded at the 4320x7680 size the header declares",
    ),
    "HLS playlist to a network address": (
        _write("list.mp4", b"#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:9/x.ts\n"),
        "playlists and concat lists are not accepted",
    ),
    "ffconcat list of a server path": (
        _write("concat.mp4", b"ffconcat version 1.0\nfile '/etc/passwd'\n"),
        "playlists and concat lists are not accepted",
    ),
    "empty file": (_write("empty.mp4", b""), "the file is empty"),
    "random bytes": (
        _write("noise.mp4", bytes((i * 7919 + 13) % 251 for i in range(20000))),
        "not a recognised video file",
    ),
    "MP4 cut in half": (
        lambda d: _clip_cut(d, lambda b: b[: len(b) // 2], "half.mp4"),
        "truncated or corrupt",
    ),
    "MP4 header without its media": (
        lambda d: _clip_cut(d, lambda b: b[:3000], "head.mp4"),
        "truncated or corrupt",
    ),
    "TS with audio only": (_audio_only, "no video stream found"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_media_fails_at_once_with_a_plain_reason(
    services: Services, tmp_path: Path, name: str
) -> None:
    make, expected = HOSTILE[name]
    source = make(tmp_path)
    vid = await queue_video(services, source)
    started = time.monotonic()
    assert await transcode_next(services) == "failed"
    assert time.monotonic() - started < 30  # fails fast: nothing was encoded
    video, job = await load(services, vid)
    assert video.status == "failed" and job.state == "failed" and job.attempts == 1
    assert video.error and expected in video.error, video.error
    assert not video.error.startswith("transcoding failed after")
    assert_plain(readable_reasons(video, job), services.settings.data_dir)
    # no rung was planned or encoded, nothing was stored for the video but its source
    assert not [s for s in job.stages or [] if s.get("name") == "encode"]
    assert not await services.store.list(f"videos/{vid}/r")


async def test_an_input_ffmpeg_rejects_fails_once_with_a_plain_reason(
    services: Services, clip4: Path, faulty: FaultyFFmpeg
) -> None:
    # every encode runs the real ffmpeg on a command it rejects (EINVAL, exit status 234:
    # "[out#0/image2 @ 0x…] Nothing was written into output file…", the report's words)
    faulty.reject_on("-var_stream_map")
    vid = await queue_video(services, clip4)
    assert await transcode_next(services) == "failed"
    video, job = await load(services, vid)
    assert video.status == "failed" and job.state == "failed" and job.attempts == 1
    assert video.error == (
        "the video could not be encoded: its picture, timing or streams cannot be converted"
    )
    assert_plain(readable_reasons(video, job), services.settings.data_dir)
    audio = next(s for s in job.stages or [] if s.get("rendition") == "audio")
    assert audio["error"] == (
        "the audio rendition failed to encode: its picture, timing or streams cannot be converted"
    )


async def test_a_crashing_encoder_is_retried(
    services: Services, clip4: Path, faulty: FaultyFFmpeg
) -> None:
    faulty.fail_on("-var_stream_map")  # exit status 1: nothing says the input is at fault
    vid = await queue_video(services, clip4)
    assert await transcode_next(services) == "retry"
    video, job = await load(services, vid)
    assert video.status == "queued" and job.state == "queued" and job.attempts == 1
    assert job.last_error == f"the video could not be encoded: {FAULTY_REASON}"
    assert_plain(readable_reasons(video, job), services.settings.data_dir)


async def test_a_timeout_is_retried(services: Services, long_clip: Path) -> None:
    services.settings.transcode_timeout_s = 0.5
    vid = await queue_video(services, long_clip)
    assert await transcode_next(services) == "retry"
    video, job = await load(services, vid)
    assert video.status == "queued" and job.state == "queued" and job.attempts == 1
    assert job.last_error == (
        "the video could not be encoded: encoding did not finish within 0.5 s and was stopped"
    )


async def test_an_unexpected_error_is_retried_without_its_details(
    services: Services, clip4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise OSError(f"[Errno 5] cannot read {services.settings.data_dir}/work/x @ 0x55d1")

    monkeypatch.setattr("reelstream.processing.pipeline.plan_ladder", broken)
    vid = await queue_video(services, clip4)
    assert await transcode_next(services) == "retry"
    video, job = await load(services, vid)
    assert job.state == "queued" and job.attempts == 1
    assert job.last_error == "an internal error interrupted processing"
    assert_plain(readable_reasons(video, job), services.settings.data_dir)
