"""The reasons users read when ffmpeg fails: a plain sentence chosen by the exit status, never
ffmpeg's own text (memory addresses, stream labels like ``[out#1/image2 @ 0x…]``, the
server's folders), which stays in ``stderr_tail`` and the server log. Whether a failure is
retried follows from the same status: the same input fails again (permanent) or the machine
was at fault (retried).

The table is produced from real ffmpeg runs that fail."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from reelstream.media.errors import (
    COULD_NOT_ENCODE,
    FFmpegFailed,
    FFmpegTimeout,
    TranscodeError,
    exit_status_reason,
)
from reelstream.media.ffmpeg import run_ffmpeg
from tests.support import FFMPEG

HALF_SECOND = "testsrc=size=320x240:rate=25:duration=0.52"
BASE = [FFMPEG, "-nostdin", "-y", "-hide_banner"]


@dataclass(frozen=True)
class Case:
    argv: Callable[[Path], list[str]]
    permanent: bool


def _clip(folder: Path) -> Path:
    path = folder / "half.mp4"
    if not path.exists():
        subprocess.run(
            [
                *BASE,
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                HALF_SECOND,
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                str(path),
            ],
            check=True,
            timeout=60,
        )
    return path


def _truncated(folder: Path) -> Path:
    path = folder / "truncated.mp4"
    path.write_bytes(_clip(folder).read_bytes()[:3000])
    return path


def _garbage(folder: Path) -> Path:
    path = folder / "garbage.264"
    path.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(4000)))
    return path


CASES: dict[str, Case] = {
    # issue 9's report: the storyboard branch of a half-second clip writes no frame
    "storyboard of a half-second clip": Case(
        lambda d: (
            [
                *BASE,
                "-f",
                "lavfi",
                "-i",
                HALF_SECOND,
                "-vf",
                "fps=fps=1/1:round=down",
                "-f",
                "image2",
                str(d / "th_%05d.jpg"),
            ]
        ),
        permanent=True,
    ),
    "a truncated MP4 (no moov box)": Case(
        lambda d: [*BASE, "-f", "mov", "-i", f"file:{_truncated(d)}", "-f", "null", "-"],
        permanent=True,
    ),
    "bytes that are no H.264": Case(
        lambda d: [*BASE, "-f", "h264", "-i", f"file:{_garbage(d)}", "-f", "null", "-"],
        permanent=True,
    ),
    "a picture size libx264 refuses": Case(
        lambda d: (
            [
                *BASE,
                "-i",
                f"file:{_clip(d)}",
                "-vf",
                "scale=w=321:h=241",
                "-c:v",
                "libx264",
                "-f",
                "null",
                "-",
            ]
        ),
        permanent=True,
    ),
    "an encoder this build lacks": Case(
        lambda d: [*BASE, "-i", f"file:{_clip(d)}", "-c:v", "no-such-encoder", "-f", "null", "-"],
        permanent=True,
    ),
    "a work file that went missing": Case(
        lambda d: [*BASE, "-f", "mov", "-i", f"file:{d / 'gone.mp4'}", "-f", "null", "-"],
        permanent=False,
    ),
    "an output folder that went missing": Case(
        lambda d: (
            [
                *BASE,
                "-i",
                f"file:{_clip(d)}",
                "-frames:v",
                "1",
                "-update",
                "1",
                str(d / "gone" / "poster.jpg"),
            ]
        ),
        permanent=False,
    ),
}

LONG_RUN = [*BASE, "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "null", "-"]


def assert_for_people(message: str, folder: Path) -> None:
    assert message.startswith(f"{COULD_NOT_ENCODE}: "), message
    assert not re.search(r"\b0x[0-9a-fA-F]+", message), message
    for leak in ("@", "[out#", "[vost#", "/tmp", str(folder), "ffmpeg", "Error"):
        assert leak not in message, (leak, message)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_a_real_ffmpeg_failure_reads_as_a_sentence(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    with pytest.raises(FFmpegFailed) as failed:
        await run_ffmpeg(case.argv(tmp_path), timeout_s=60, stderr_path=tmp_path / "err.log")
    exc = failed.value
    assert_for_people(exc.message, tmp_path)
    assert exc.retryable is not case.permanent, (exc.returncode, exc.stderr_tail)
    assert exc.stderr_tail.strip()  # ffmpeg's own words stay for the log
    assert exc.reason in exc.message


async def test_the_reported_failure_keeps_its_raw_text_for_the_log_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    case = CASES["storyboard of a half-second clip"]
    with pytest.raises(FFmpegFailed) as failed:
        await run_ffmpeg(case.argv(tmp_path), timeout_s=60, stderr_path=tmp_path / "err.log")
    assert failed.value.returncode == 234
    assert "Nothing was written" in failed.value.stderr_tail and "0x" in failed.value.stderr_tail
    assert failed.value.message == (
        "the video could not be encoded: its picture, timing or streams cannot be converted"
    )
    assert "Nothing was written" in caplog.text  # operators still read ffmpeg's words


async def test_a_killed_ffmpeg_is_retried(tmp_path: Path) -> None:
    def kill(pid: int) -> None:
        asyncio.get_running_loop().call_later(0.3, os.kill, pid, signal.SIGKILL)

    with pytest.raises(FFmpegFailed) as failed:
        await run_ffmpeg(LONG_RUN, timeout_s=60, stderr_path=tmp_path / "e.log", on_start=kill)
    assert failed.value.retryable and failed.value.returncode == -9
    assert (
        failed.value.message == "the video could not be encoded: the encoder was stopped (signal 9)"
    )


async def test_a_timeout_is_retried(tmp_path: Path) -> None:
    with pytest.raises(FFmpegTimeout) as failed:
        await run_ffmpeg(LONG_RUN, timeout_s=0.5, stderr_path=tmp_path / "e.log")
    assert failed.value.retryable
    assert_for_people(failed.value.message, tmp_path)
    assert isinstance(failed.value, TranscodeError)


def test_machine_trouble_is_retried_and_unknown_statuses_too() -> None:
    assert exit_status_reason(256 - 28) == ("the server ran out of disk space", True)
    assert exit_status_reason(256 - 12) == ("the server ran out of memory", True)
    assert exit_status_reason(1) == ("the encoder failed (exit status 1)", True)
    assert exit_status_reason(-9) == ("the encoder was stopped (signal 9)", True)
    tail = "/var/lib/reelstream/work/12-1-abc/out/v720/seg_00001.m4s: No space left on device\n"
    failed = FFmpegFailed(1, tail)
    assert failed.message == "the video could not be encoded: the encoder failed (exit status 1)"
    assert failed.stderr_tail == tail and failed.retryable
