"""Hostile media files, uploaded over tus and processed by the real pipeline (one attempt,
in-process, real ffmpeg): playlists and concat lists naming a listening socket and a FIFO,
an SDP file, an MP4 whose data references point at a local path, subtitles, images, audio,
random bytes, truncated and index-less MP4s, and an honest clip with a hostile file name.

Each ends in a clean ``failed`` state with the human reason (or, for the honest clip, plays),
and ffmpeg opened nothing but the upload: nothing connected to the socket, nobody opened the
FIFO (``tests.media.test_probe.tripwires``)."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from reelstream.media.probe import NOT_VIDEO, PLAYLIST, TRUNCATED
from reelstream.processing.jobs import claim_next, run_job
from tests.hostile.conftest import World
from tests.ingest.helpers import OCTETS, TUS, metadata
from tests.media.test_probe import tripwires
from tests.support import FFMPEG, make_clip

pytestmark = pytest.mark.timeout(120)

NO_VIDEO_STREAM = "no video stream found"
READY = "ready"

# -- the hostile files (url: a listening socket; local: a FIFO nobody may open) --------------

Maker = Callable[[Path, str, str], bytes]


def hls(url: str, local: str) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n"
        f"#EXTINF:2,\n{url}\n#EXTINF:2,\nfile://{local}\n#EXTINF:2,\n{local}\n#EXT-X-ENDLIST\n"
    ).encode()


def mp4_with_drefs(clip: Path, url: str, local: str) -> bytes:
    """The clip, its data reference rewritten to name files outside it (``url `` entries with
    the self-contained flag cleared). ffmpeg runs with ``enable_drefs=0``: they are ignored."""
    entries = b""
    for location in (f"file://{local}", local, url):
        loc = location.encode() + b"\x00"
        entries += struct.pack(">I4s", 12 + len(loc), b"url ") + bytes(4) + loc
    dref_body = struct.pack(">II", 0, 3) + entries
    containers = {b"moov", b"trak", b"mdia", b"minf", b"dinf"}

    def walk(data: bytes) -> bytes:
        out, i = b"", 0
        while i + 8 <= len(data):
            size, kind = struct.unpack(">I4s", data[i : i + 8])
            body = data[i + 8 : i + size]
            if kind in containers:
                body = walk(body)
            elif kind == b"dref":
                body = dref_body
            out += struct.pack(">I4s", len(body) + 8, kind) + body
            i += size
        return out

    rewritten = walk(clip.read_bytes())
    assert b"url \x00\x00\x00\x00file://" in rewritten
    return rewritten


def without_moov(clip: Path) -> bytes:
    data, out, i = clip.read_bytes(), b"", 0
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        if kind != b"moov":
            out += data[i : i + size]
        i += size
    return out


def png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + bytes(4)


def gif_bomb() -> bytes:
    """A GIF whose logical screen is 65535x65535 (decoded, it would be 16 GiB of pixels)."""
    return b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\xf7\x00\x00" + bytes(768) + b";"


def ass(local: str) -> bytes:
    return (
        f"[Script Info]\nScriptType: v4.00+\n; include {local}\n[Events]\n"
        "Dialogue: 0,0:00:00.00,0:00:05.00,Default,,0,0,0,,{\\pos(1,1)}hi\n"
    ).encode()


def sdp(url: str) -> bytes:
    port = url.rsplit(":", 1)[1].split("/")[0]
    return (
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=hostile\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=video {port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    ).encode()


# (id, filename, maker(clip, url, local) -> bytes, expected reason or READY)
CASES: list[tuple[str, str, Maker, str]] = [
    ("hls-as-mp4", "holiday.mp4", lambda c, u, f: hls(u, f), PLAYLIST),
    ("hls-as-m3u8", "list.m3u8", lambda c, u, f: hls(u, f), PLAYLIST),
    ("hls-with-bom", "bom.mp4", lambda c, u, f: b"\xef\xbb\xbf\n " + hls(u, f), PLAYLIST),
    ("hls-tag-first", "tag.ts", lambda c, u, f: b"#EXT-X-VERSION:3\n" + hls(u, f), PLAYLIST),
    (
        "ffconcat",
        "list.mp4",
        lambda c, u, f: f"ffconcat version 1.0\nfile '{f}'\nfile '{u}'\n".encode(),
        PLAYLIST,
    ),
    ("bare-concat", "list.mkv", lambda c, u, f: f"file '{f}'\n".encode(), PLAYLIST),
    ("sdp", "stream.sdp", lambda c, u, f: sdp(u), NOT_VIDEO),
    # the references are ignored (enable_drefs=0): it plays from its own bytes
    ("mov-data-references", "drefs.mov", lambda c, u, f: mp4_with_drefs(c, u, f), READY),
    ("ass-subtitle", "subs.ass", lambda c, u, f: ass(f), NOT_VIDEO),
    (
        "srt-subtitle",
        "subs.mp4",
        lambda c, u, f: b"1\n00:00:00,000 --> 00:00:01,000\n<script>alert(1)</script>\n",
        NOT_VIDEO,
    ),
    ("random-bytes", "random.mp4", lambda c, u, f: b"\x00\x01" + os.urandom(200_000), NOT_VIDEO),
    (
        "truncated-mp4",
        "half.mp4",
        lambda c, u, f: c.read_bytes()[: c.stat().st_size // 2],
        TRUNCATED,
    ),
    ("mp4-without-moov", "nomoov.mp4", lambda c, u, f: without_moov(c), TRUNCATED),
    (
        "box-header-then-garbage",
        "fake.mp4",
        lambda c, u, f: b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(50_000),
        TRUNCATED,
    ),
    (
        "mkv-magic-then-garbage",
        "fake.mkv",
        lambda c, u, f: b"\x1a\x45\xdf\xa3" + os.urandom(50_000),
        TRUNCATED,
    ),
    ("gif-huge-canvas", "bomb.gif", lambda c, u, f: gif_bomb(), NOT_VIDEO),
    ("png-huge", "image.png", lambda c, u, f: png(100_000, 100_000), NOT_VIDEO),
    (
        "jpeg",
        "photo.jpg",
        lambda c, u, f: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(2000),
        NOT_VIDEO,
    ),
    ("gzip-of-zeros", "video.mp4.gz", lambda c, u, f: gzip.compress(bytes(5_000_000)), NOT_VIDEO),
    (
        "html-page",
        "index.html",
        lambda c, u, f: b"<!doctype html><script>alert(1)</script>",
        NOT_VIDEO,
    ),
    (
        "wav-audio",
        "sound.wav",
        lambda c, u, f: b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(100),
        NOT_VIDEO,
    ),
    (
        "audio-only-m4a",
        "song.mp4",
        lambda c, u, f: c.with_name("audio.m4a").read_bytes(),
        NO_VIDEO_STREAM,
    ),
    (
        "hostile-filename-honest-clip",
        "../../x|concat:%d.mp4",
        lambda c, u, f: c.read_bytes(),
        READY,
    ),
]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small honest clip (2 s, 320x240) and its audio track alone."""
    folder = tmp_path_factory.mktemp("hostile-media")
    clip = make_clip(folder / "clip.mp4", seconds=2, width=320, height=240, fps="25")
    subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(clip),
            "-vn",
            "-c",
            "copy",
            str(folder / "audio.m4a"),
        ],
        check=True,
        timeout=60,
    )
    return clip


def upload(w: World, filename: str, data: bytes) -> str:
    """The whole file in one tus creation-with-upload; the new video's id."""
    headers = {
        **TUS,
        "Upload-Length": str(len(data)),
        "Upload-Metadata": metadata(filename=filename, title="hostile"),
        "Content-Type": OCTETS,
    }
    r = w.request("POST", "/api/v1/uploads", headers=headers, content=data)
    assert r.status_code == 201, r.text
    assert r.headers["upload-offset"] == str(len(data))
    return str(r.headers["video-id"])


def process_all(w: World) -> None:
    """Run every due job, one attempt each, as a worker would."""

    async def run() -> None:
        while (lease := await claim_next(w.services, "hostile:1:0")) is not None:
            await run_job(w.services, lease)

    w.run(run)


@pytest.mark.parametrize(
    ("filename", "make", "expected"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_hostile_media(
    intact: World, sources: Path, tmp_path: Path, filename: str, make: Maker, expected: str
) -> None:
    w = intact
    with tripwires(tmp_path) as (url, local, _opened):
        video_id = upload(w, filename, make(sources, url, local))
        process_all(w)
        video = w.request("GET", f"/api/v1/videos/{video_id}").json()
    if expected == READY:
        assert video["status"] == "ready", video
        return
    assert video["status"] == "failed", video
    assert video["error"] == expected
    reason = str(video["error"])
    assert "ffmpeg" not in reason and "0x" not in reason and str(tmp_path) not in reason


def test_zero_length_upload_is_refused(intact: World) -> None:
    headers = {**TUS, "Upload-Length": "0", "Upload-Metadata": metadata(filename="empty.mp4")}
    r = intact.request("POST", "/api/v1/uploads", headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"] == "Upload-Length is 0: there is nothing to upload"
