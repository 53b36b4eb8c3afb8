"""Chunked encoding: chunks encoded apart and stitched are the single-pass rendition, segment
for segment (real ffmpeg on short generated clips: 2 s segments, 1 s GOPs, 2 s chunks)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from reelstream.config import Settings
from reelstream.media.chunks import (
    GOP_PLAYLIST,
    Chunk,
    ChunkResult,
    ChunkRungResult,
    ChunkSegment,
    build_chunk_argv,
    finish_chunk,
    plan_chunks,
    stitch,
)
from reelstream.media.errors import TranscodeError
from reelstream.media.ffmpeg import build_ladder_argv
from reelstream.media.ladder import RungPlan, plan_ladder
from reelstream.media.mp4 import first_sample_is_sync, fragment_span_of, top_level
from reelstream.media.options import FFmpegOptions
from reelstream.media.probe import Container, MediaInfo, probe_file, sniff_file
from reelstream.processing.options import ffmpeg_options
from tests.support import FFMPEG, make_clip


def options(tmp_path: Path, *, segment_s: int = 2, gop_s: int = 1) -> FFmpegOptions:
    base = ffmpeg_options(Settings(data_dir=tmp_path, _env_file=None))
    return dataclasses.replace(base, segment_s=segment_s, gop_s=gop_s)


# -- planning


def test_plan_chunks(tmp_path: Path) -> None:
    opts = options(tmp_path, segment_s=4, gop_s=2)
    # a short video is one chunk, to its end
    assert plan_chunks(50, opts, chunk_s=60) == [Chunk(0, 0, None, 1, 4, 2)]
    assert plan_chunks(89.9, opts, chunk_s=60) == [Chunk(0, 0, None, 1, 4, 2)]
    # boundaries on the segment grid; first_segment is global and 1-based
    assert plan_chunks(150, opts, chunk_s=60) == [
        Chunk(0, 0, 60, 1, 4, 2),
        Chunk(1, 60, 120, 16, 4, 2),
        Chunk(2, 120, None, 31, 4, 2),
    ]
    # a tail shorter than half a chunk joins the previous chunk
    assert [c.end_s for c in plan_chunks(120.01, opts, chunk_s=60)] == [60, None]
    assert [c.end_s for c in plan_chunks(120, opts, chunk_s=60)] == [60, None]
    assert [c.start_s for c in plan_chunks(150, opts, chunk_s=60)] == [0, 60, 120]
    # chunk_s is rounded to whole segments (62 -> 64; 1 -> one segment)
    assert [c.start_s for c in plan_chunks(200, opts, chunk_s=62)] == [0, 64, 128]
    assert [c.start_s for c in plan_chunks(10, opts, chunk_s=1)] == [0, 4, 8]
    assert [c.start_s for c in plan_chunks(9.9, opts, chunk_s=1)] == [0, 4]
    # a pre-roll is whole GOPs, before every chunk but the first
    chunks = plan_chunks(150, opts, chunk_s=60, preroll_s=1)
    assert [(c.preroll_s, c.encode_start_s) for c in chunks] == [(0, 0), (2, 58), (2, 118)]
    chunk = chunks[1]
    assert Chunk.from_json(json.loads(json.dumps(chunk.to_json()))) == chunk


# -- encoding


@dataclasses.dataclass
class Source:
    path: Path
    info: MediaInfo
    container: Container
    rungs: list[RungPlan]
    opts: FFmpegOptions


def source(tmp_path: Path, fps: str, seconds: float = 7, video_late_s: float = 0) -> Source:
    path = make_clip(tmp_path / "src.mp4", seconds=seconds, fps=fps, audio=False)
    if video_late_s:  # the audio starts first: the video's first frame is not at 0
        late = tmp_path / "late.mp4"
        argv = [FFMPEG, "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi"]
        argv += ["-i", f"sine=sample_rate=48000:duration={seconds}"]
        argv += ["-itsoffset", str(video_late_s), "-i", str(path), "-map", "1:v", "-map", "0:a"]
        argv += ["-c:v", "copy", "-c:a", "aac", str(late)]
        subprocess.run(argv, check=True, timeout=60)
        path = late
    opts = options(tmp_path)
    info = probe_file(path, opts.limits)
    rungs = plan_ladder(opts.ladder, info.width, info.height, info.fps)
    return Source(path, info, sniff_file(path, opts.limits), rungs, opts)


def encode_chunk(src: Source, out: Path, chunk: Chunk) -> None:
    argv = build_chunk_argv(
        src.opts,
        src.path,
        out,
        container=src.container,
        info=src.info,
        rungs=src.rungs,
        chunk=chunk,
    )
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=120)


def decode(playlist: Path) -> list[tuple[float, bool]]:
    """(pts_time, keyframe) of every frame ffmpeg decodes from ``playlist``, failing on any
    decode error."""
    argv = [FFMPEG, "-nostdin", "-hide_banner", "-xerror", "-i", str(playlist)]
    argv += ["-map", "0:v:0", "-vf", "showinfo", "-f", "null", "-"]
    out = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    frames = re.findall(r"pts_time:([-\d.]+) .*?iskey:(\d)", out.stderr)
    assert frames, out.stderr[-2000:]
    return [(float(t), key == "1") for t, key in frames]


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("fps", "preroll", "video_late_s"),
    [
        ("30", 0, 0),
        ("30000/1001", 0, 0),
        ("60", 0, 0),  # both rungs capped at 30 fps: the fps filter picks every other frame
        ("50/3", 0, 0),  # keyframes a fraction of a frame after a chunk start: the muxer's trap
        ("30000/1001", 1, 0),  # one GOP encoded before each chunk and dropped
        ("30", 0, 0.1),  # the video starts after the audio: both fill the start from 0
    ],
)
def test_stitched_rungs_are_the_single_pass(
    tmp_path: Path, fps: str, preroll: int, video_late_s: float
) -> None:
    src = source(tmp_path, fps, video_late_s=video_late_s)
    rungs = src.rungs[:2]
    assert [r.height for r in rungs] == [240, 360]
    assert all(r.resample_fps for r in rungs) == (fps == "60")
    single = tmp_path / "single"
    subprocess.run(
        build_ladder_argv(
            src.opts,
            src.path,
            single,
            container=src.container,
            info=src.info,
            rungs=rungs,
            with_audio=False,
        ),
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )
    chunks = plan_chunks(src.info.duration_s, src.opts, chunk_s=2, preroll_s=preroll)
    assert len(chunks) == 4 and [c.preroll_s for c in chunks] == [0] + [preroll] * 3
    src = dataclasses.replace(src, rungs=rungs)
    results = []
    for chunk in chunks:
        encode_chunk(src, tmp_path / f"chunk{chunk.index}", chunk)
        result = finish_chunk(tmp_path / f"chunk{chunk.index}", rungs, chunk)
        results.append(ChunkResult.from_json(json.loads(json.dumps(result.to_json()))))
        assert results[-1] == result
    for rung in rungs:
        folder = tmp_path / "stitched" / rung.name
        folder.mkdir(parents=True)
        inits = set()
        for chunk in chunks:
            produced = tmp_path / f"chunk{chunk.index}" / rung.name
            assert not (produced / GOP_PLAYLIST).exists()  # the GOP files became segments
            assert not list(produced.glob("gop_*"))
            inits.add((produced / "init.mp4").read_bytes())
            for path in produced.iterdir():
                shutil.copy(path, folder / path.name)
        ref = single / rung.name
        ref_text = (ref / "index.m3u8").read_text()
        ref_init = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', ref_text)[0]  # init_N.mp4
        # one init per rung, the same bytes in every chunk (and as the single pass's)
        assert inits == {(ref / ref_init).read_bytes()}
        text, track = stitch(rung, [r.rung(rung.name) for r in results])
        (folder / "index.m3u8").write_text(text)
        # the playlist ffmpeg writes for a single pass, to the byte (but the init's name)
        assert text == ref_text.replace(ref_init, "init.mp4")
        segments = sorted(folder.glob("seg_*.m4s"))
        ref_segments = sorted(ref.glob("seg_*.m4s"))
        assert [p.name for p in segments] == [p.name for p in ref_segments]
        spans = [fragment_span_of(p) for p in segments]
        assert spans == [fragment_span_of(p) for p in ref_segments]
        assert [(t, d) for t, d in spans] == [
            (t + d * i, d) for t, d, r in track.timeline for i in range(r + 1)
        ]
        assert track.segment_count == len(segments) and track.duration_s == pytest.approx(
            spans[-1][0] / track.timescale + spans[-1][1] / track.timescale
        )
        for path in segments:  # every segment starts with a keyframe
            data = path.read_bytes()
            moofs = [(s, e) for kind, _, s, e in top_level(data) if kind == b"moof"]
            assert moofs and all(first_sample_is_sync(data, s, e) for s, e in moofs[:1])
        # decoded end to end: the single pass's frames, evenly spaced, keyframes where a
        # segment starts (and only on the GOP grid)
        frames = decode(folder / "index.m3u8")
        assert frames == decode(ref / "index.m3u8")
        times = [t for t, _ in frames]
        steps = {round(b - a, 4) for a, b in itertools.pairwise(times)}
        assert steps == {round(1 / float(rung.fps), 4)}
        keys = {round(t, 4) for t, key in frames if key}
        starts = {round(t / track.timescale, 4) for t, _ in spans}
        cells = [math.floor(t / src.opts.gop_s + 1e-9) for t in times]
        grid = {round(times[0], 4)} | {
            round(times[i], 4) for i in range(1, len(times)) if cells[i] > cells[i - 1]
        }
        assert starts <= keys and keys == grid


@pytest.mark.timeout(120)
def test_finish_chunk_refuses_inconsistent_output(tmp_path: Path) -> None:
    src = source(tmp_path, "30000/1001", seconds=5)
    src = dataclasses.replace(src, rungs=src.rungs[:1])
    rung = src.rungs[0]
    chunks = plan_chunks(src.info.duration_s, src.opts, chunk_s=2)
    out = tmp_path / "chunk1"
    encode_chunk(src, out, chunks[1])
    # chunk 1's output is refused as another chunk's: numbered elsewhere, ending elsewhere
    wrong_number = dataclasses.replace(chunks[1], first_segment=3)
    for wrong in (wrong_number, dataclasses.replace(chunks[1], end_s=6)):
        with pytest.raises(TranscodeError):
            finish_chunk(out, src.rungs, wrong)
    # a GOP missing from the middle of the chunk
    listing = out / rung.name / GOP_PLAYLIST
    text = listing.read_text()
    listing.write_text(text.replace("gop_00001.m4s\n", "", 1).replace("#EXTINF:1.001000,\n", "", 1))
    with pytest.raises(TranscodeError, match="not contiguous"):
        finish_chunk(out, src.rungs, chunks[1])
    listing.write_text(text)
    # a GOP file lost
    (out / rung.name / "gop_00002.m4s").unlink()
    with pytest.raises(TranscodeError, match="misses gop_00002"):
        finish_chunk(out, src.rungs, chunks[1])


def rung_result(chunk: int, first: int, starts: list[int], sha: str = "a") -> ChunkRungResult:
    segs = [
        ChunkSegment(f"seg_{first + i:05d}.m4s", 2.0, 1000, t, 60) for i, t in enumerate(starts)
    ]
    return ChunkRungResult("v240", chunk, "init.mp4", sha, "avc1.64000d", 30, segs)


def test_stitch_checks_the_chunks(tmp_path: Path) -> None:
    rung = plan_ladder(options(tmp_path).ladder, 640, 360, Fraction(30))[0]
    good = [rung_result(0, 1, [0, 60]), rung_result(1, 3, [120, 180])]
    text, track = stitch(rung, good)
    assert text.count("#EXTINF:2.000000,") == 4 and text.endswith("#EXT-X-ENDLIST\n")
    assert '#EXT-X-MAP:URI="init.mp4"' in text and "#EXT-X-PLAYLIST-TYPE:VOD" in text
    assert track.timeline == [(0, 60, 3)] and track.init == "v240/init.mp4"
    assert track.average_bps == 4000 and track.start_number == 1
    broken = {
        "missing": [good[1]],
        "order": [good[1], good[0]],
        "init": [good[0], rung_result(1, 3, [120, 180], sha="b")],
        "gap": [good[0], rung_result(1, 3, [150, 210])],
        "numbering": [good[0], rung_result(1, 4, [120, 180])],
    }
    for case in broken.values():
        with pytest.raises(TranscodeError):
            stitch(rung, case)
