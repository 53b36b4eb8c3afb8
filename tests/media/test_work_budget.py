"""The work a file may cause is bounded (issue 9, defect 7d): a 10 KB MPEG-TS whose header claims
4320x7680 is refused by the probe for its size, a bigger one because its first keyframe does not
decode at that size, before a ladder is planned; real sources, even the most compressible, are
not."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from reelstream.config import Settings
from reelstream.media.errors import InvalidMedia
from reelstream.media.probe import MAX_PIXELS_PER_BYTE, WORK_FLOOR, check_work, probe_file
from reelstream.processing.options import probe_limits
from tests.media.lying_header import lying_ts
from tests.support import FFMPEG


@pytest.fixture
def s(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None)


def test_the_budget_in_numbers() -> None:
    # measured: 10 s of plain black 1080p at 30 fps, x264 default preset: 27,079 bytes
    check_work(1920, 1080, 300, 27_079)
    # 60 s of 1080p at 30 fps in 37.5 MB (5 Mbit/s)
    check_work(1920, 1080, 1800, 37_500_000)
    # anything below the floor, whatever its size: one frame of 4320x7680 in 1 KB
    check_work(4320, 7680, 1, 1024)
    assert WORK_FLOOR > 4320 * 7680
    # the report's file: 10 KB claiming 4320x7680 for a second at 25 fps
    with pytest.raises(InvalidMedia) as refused:
        check_work(4320, 7680, 25, 10_000)
    assert refused.value.message == (
        "the video declares a 4320x7680 picture over 25 frames, far more than a file of 10 KB "
        "can hold; its header does not match its content"
    )
    assert MAX_PIXELS_PER_BYTE * 10_000 < 4320 * 7680 * 25


def test_a_tiny_ts_whose_header_claims_4320x7680_is_refused_fast(
    tmp_path: Path, s: Settings
) -> None:
    liar = lying_ts(tmp_path / "liar.ts")
    assert liar.stat().st_size < 12_000
    started = time.monotonic()
    with pytest.raises(InvalidMedia) as refused:
        probe_file(liar, probe_limits(s))
    assert time.monotonic() - started < 10
    assert "4320x7680" in refused.value.message
    assert "its header does not match its content" in refused.value.message


def test_a_bigger_file_with_a_lying_header_fails_its_keyframe_check(
    tmp_path: Path, s: Settings
) -> None:
    """Big enough to pass the size budget: the first keyframe's data does not fill the
    declared picture, which decoding it with errors made fatal shows."""
    liar = lying_ts(tmp_path / "big-liar.ts", seconds=2, source="testsrc2=size=640x352")
    size = liar.stat().st_size
    check_work(4320, 7680, 50, size)  # the budget alone would let it through
    started = time.monotonic()
    with pytest.raises(InvalidMedia) as refused:
        probe_file(liar, probe_limits(s))
    assert time.monotonic() - started < 10
    assert refused.value.message == (
        "the first picture cannot be decoded at the 4320x7680 size the header declares; "
        "the file is corrupt or its header does not match its content"
    )


def test_a_minute_of_plain_black_1080p_is_accepted(tmp_path: Path, s: Settings) -> None:
    """The most compressible real source there is (about 80 KB for a minute)."""
    path = tmp_path / "black.mp4"
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
            "color=black:size=1920x1080:rate=30:duration=60",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
        timeout=120,
    )
    info = probe_file(path, probe_limits(s))
    assert (info.width, info.height) == (1920, 1080)
    assert info.duration_s == pytest.approx(60, abs=0.1)


def test_the_test_clips_are_accepted(
    clip4: Path, long_clip: Path, portrait_clip: Path, vfr_clip: Path, s: Settings
) -> None:
    for clip in (clip4, long_clip, portrait_clip, vfr_clip):
        probe_file(clip, probe_limits(s))
