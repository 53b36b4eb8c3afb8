from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import pytest

from reelstream.config import Settings
from reelstream.media.errors import InvalidMedia
from reelstream.media.probe import (
    AVI,
    FLV,
    MATROSKA,
    MOV,
    MPEGTS,
    NOT_VIDEO,
    OGG,
    PLAYLIST,
    TRUNCATED,
    check_duration,
    check_resolution,
    choose_fps,
    displayed_size,
    input_args,
    is_truncated,
    probe,
    probe_file,
    snap_fps,
    sniff,
)
from reelstream.processing.options import probe_limits
from tests.support import FFMPEG, make_clip


@pytest.fixture
def s(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None)


def reason(path: Path, settings: Settings) -> str:
    with pytest.raises(InvalidMedia) as err:
        probe_file(path, probe_limits(settings))
    return err.value.message


# -- sniffing (pure)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x00\x00\x20ftypisom" + bytes(100), MOV),
        (b"\x00\x00\x00\x14ftypqt  " + bytes(100), MOV),
        (b"\x00\x00\x10\x00moov" + bytes(100), MOV),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81" + bytes(100), MATROSKA),
        (b"RIFF\x10\x00\x00\x00AVI LIST" + bytes(100), AVI),
        (b"FLV\x01\x05" + bytes(100), FLV),
        (b"OggS\x00\x02" + bytes(100), OGG),
        ((b"\x47" + bytes(187)) * 4, MPEGTS),
        ((bytes(4) + b"\x47" + bytes(187)) * 4, MPEGTS),  # 192-byte M2TS packets
    ],
)
def test_sniff_known_containers(head: bytes, expected: object) -> None:
    assert sniff(head) is expected


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"#EXTM3U\n#EXTINF:1,\nhttp://example.com/a.ts\n", PLAYLIST),
        (b"\xef\xbb\xbf  \n#EXTM3U\n", PLAYLIST),
        (b"ffconcat version 1.0\nfile 'a.mp4'\n", PLAYLIST),
        (b"file '/etc/passwd'\n", PLAYLIST),
        (b"hello, this is plain text\n", NOT_VIDEO),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", NOT_VIDEO),
        (b"\x89PNG\r\n\x1a\n" + bytes(50), NOT_VIDEO),
        # 16 bytes drawn once from os.urandom: fixed, so every run (and xdist worker) agrees
        (bytes.fromhex("f591a18552409e8bcd0528e77aabe567"), NOT_VIDEO),
    ],
)
def test_sniff_refusals(head: bytes, message: str) -> None:
    with pytest.raises(InvalidMedia) as err:
        sniff(head)
    assert err.value.message == message


def test_container_not_in_allowed_formats(s: Settings, clip4: Path) -> None:
    s.allowed_formats = ["matroska,webm"]
    assert reason(clip4, s) == "the mov container is not accepted"


def test_input_args_for_ffmpeg(tmp_path: Path) -> None:
    path = tmp_path / "x.mkv"
    assert input_args(MATROSKA, path) == [
        "-f",
        "matroska",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        "matroska,webm",
        "-i",
        f"file:{path}",
    ]


# -- limit checks (pure)


def test_resolution_limit(s: Settings) -> None:
    with pytest.raises(InvalidMedia) as err:
        check_resolution(20000, 20000, probe_limits(s))
    assert err.value.message == "resolution 20000x20000 exceeds the limit of 7680x4320"
    check_resolution(7680, 4320, probe_limits(s))
    check_resolution(4320, 7680, probe_limits(s))  # portrait 8K is as acceptable as landscape 8K
    with pytest.raises(InvalidMedia):
        check_resolution(7682, 100, probe_limits(s))
    with pytest.raises(InvalidMedia):
        check_resolution(0, 360, probe_limits(s))


def test_duration_limit(s: Settings) -> None:
    s.max_duration_s = 3600
    check_duration(3600, probe_limits(s))
    with pytest.raises(InvalidMedia) as err:
        check_duration(3 * 3600 + 61, probe_limits(s))
    assert err.value.message == "the video is 3:01:01 long; the limit is 1:00:00"


def test_truncation_verdict() -> None:
    assert is_truncated(10.0, 5.0)
    assert not is_truncated(10.0, 9.5)
    assert not is_truncated(None, 1.0)
    assert is_truncated(3600.0, 3000.0) and not is_truncated(3600.0, 3500.0)


def test_frame_rate_helpers() -> None:
    assert choose_fps(Fraction(30), Fraction(30)) == (Fraction(30), False)
    assert choose_fps(Fraction(30000, 1001), Fraction(30000, 1001))[1] is False
    fps, vfr = choose_fps(Fraction(2397, 100), Fraction(30))
    assert vfr and fps == 30
    fps, vfr = choose_fps(Fraction(29, 1), Fraction(90000))  # implausible r_frame_rate
    assert vfr and fps == 29
    assert choose_fps(None, None) == (Fraction(30), False)
    assert snap_fps(Fraction(2987, 100)) == Fraction(30000, 1001)
    assert snap_fps(Fraction(17)) == 17


def test_displayed_size() -> None:
    assert displayed_size(1920, 1080, None, 0) == (1920, 1080)
    assert displayed_size(1920, 1080, Fraction(1), -90) == (1080, 1920)
    assert displayed_size(1440, 1080, Fraction(4, 3), 0) == (1920, 1080)
    assert displayed_size(640, 360, Fraction(1), 180) == (640, 360)


# -- real files


async def test_good_mp4(clip4: Path, s: Settings) -> None:
    info = await probe(clip4, probe_limits(s))
    assert (info.width, info.height) == (640, 360)
    assert info.duration_s == pytest.approx(4.0, abs=0.1)
    assert info.fps == 30 and not info.vfr
    assert info.has_audio and info.audio_codec == "aac"
    assert info.video_codec == "h264" and info.demuxer == "mov"
    assert info.to_dict()["fps"] == "30/1"


def test_other_containers(clip4: Path, s: Settings, tmp_path: Path) -> None:
    for ext in ("mkv", "ts", "flv", "avi"):
        out = tmp_path / f"c.{ext}"
        subprocess.run(
            [FFMPEG, "-nostdin", "-v", "error", "-i", str(clip4), "-c", "copy", str(out)],
            check=True,
            timeout=60,
        )
        info = probe_file(out, probe_limits(s))
        assert (info.width, info.height) == (640, 360), ext
        assert info.duration_s == pytest.approx(4.0, abs=0.2), ext


def test_random_bytes_and_text(tmp_path: Path, s: Settings) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01" + os.urandom(100_000))
    assert reason(junk, s) == NOT_VIDEO
    text = tmp_path / "notes.mp4"
    text.write_text("just some notes, not a video\n" * 50)
    assert reason(text, s) == NOT_VIDEO
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert reason(empty, s) == "the file is empty"


def test_box_header_then_garbage(tmp_path: Path, s: Settings) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(50_000))
    assert reason(fake, s) == TRUNCATED


def test_truncated_mp4(clip4: Path, tmp_path: Path, s: Settings) -> None:
    data = clip4.read_bytes()
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: gone
    assert reason(half, s) == TRUNCATED


def test_truncated_faststart_mp4(clip4: Path, tmp_path: Path, s: Settings) -> None:
    fast = tmp_path / "fast.mp4"
    remux = [FFMPEG, "-nostdin", "-v", "error", "-i", str(clip4), "-c", "copy"]
    subprocess.run([*remux, "-movflags", "+faststart", str(fast)], check=True, timeout=60)
    assert probe_file(fast, probe_limits(s)).duration_s == pytest.approx(4.0, abs=0.1)
    data = fast.read_bytes()
    half = tmp_path / "fast_half.mp4"
    half.write_bytes(data[: len(data) // 2])  # the index survives; the packets stop early
    assert reason(half, s) == TRUNCATED


def test_audio_only(clip4: Path, tmp_path: Path, s: Settings) -> None:
    m4a = tmp_path / "audio.m4a"
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-i", str(clip4), "-vn", "-c", "copy", str(m4a)],
        check=True,
        timeout=60,
    )
    assert reason(m4a, s) == "no video stream found"


def test_oversized_mkv(tmp_path: Path, s: Settings) -> None:
    wide = make_clip(tmp_path / "wide.mkv", seconds=0.5, width=7696, height=64, audio=False)
    assert reason(wide, s) == "resolution 7696x64 exceeds the limit of 7680x4320"


def test_too_long(clip4: Path, s: Settings) -> None:
    s.max_duration_s = 2
    assert reason(clip4, s) == "the video is 0:04 long; the limit is 0:02"


def test_rotation_gives_displayed_size(rotated_clip: Path, s: Settings) -> None:
    info = probe_file(rotated_clip, probe_limits(s))
    assert abs(info.rotation) == 90
    assert (info.coded_width, info.coded_height) == (640, 360)
    assert (info.width, info.height) == (360, 640) and info.portrait


def test_vfr_detected(vfr_clip: Path, s: Settings) -> None:
    info = probe_file(vfr_clip, probe_limits(s))
    assert info.vfr
    assert info.fps == 30


# -- references inside an upload are never followed


@contextmanager
def tripwires(tmp_path: Path) -> Iterator[tuple[str, str, threading.Event]]:
    """A listening socket and a FIFO; the event is set if anything opens the FIFO to read."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    fifo = tmp_path / "secret.ts"
    os.mkfifo(fifo)
    opened = threading.Event()
    stop = threading.Event()

    def watch() -> None:
        fd = os.open(fifo, os.O_WRONLY)  # blocks until a reader opens the FIFO
        if not stop.is_set():
            opened.set()
        os.close(fd)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/segment.ts"
    try:
        yield url, str(fifo), opened
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever connected
        assert not opened.is_set(), "the referenced local file was opened"
    finally:
        stop.set()
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # release the watcher
        watcher.join(5)
        os.close(fd)
        listener.close()


@pytest.mark.parametrize("name", ["holiday.mp4", "list.m3u8"])
def test_playlist_disguised_as_mp4_is_refused_without_following_it(
    tmp_path: Path, s: Settings, name: str
) -> None:
    with tripwires(tmp_path) as (url, local, _):
        fake = tmp_path / name
        fake.write_text(
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n"
            f"#EXTINF:2,\n{url}\n#EXTINF:2,\n{local}\n#EXTINF:2,\nfile:{local}\n#EXT-X-ENDLIST\n"
        )
        assert reason(fake, s) == PLAYLIST
        # Even when handed straight to ffmpeg with our input options (as if the sniffing were
        # bypassed), the explicit demuxer and protocol whitelist keep it inside the file.
        out = subprocess.run(
            [FFMPEG, "-nostdin", "-v", "error", *input_args(MOV, fake), "-f", "null", "-"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert out.returncode != 0
        out = subprocess.run(
            [FFMPEG, "-nostdin", "-v", "error", *input_args(MPEGTS, fake), "-f", "null", "-"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert out.returncode != 0


def test_concat_list_is_refused(tmp_path: Path, s: Settings) -> None:
    with tripwires(tmp_path) as (url, local, _):
        concat = tmp_path / "list.mp4"
        concat.write_text(f"ffconcat version 1.0\nfile '{local}'\nfile '{url}'\n")
        assert reason(concat, s) == PLAYLIST
        bare = tmp_path / "list2.mkv"
        bare.write_text(f"file '{local}'\n")
        assert reason(bare, s) == PLAYLIST
