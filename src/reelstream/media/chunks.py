"""Chunked (scale-out) encoding: encode a long video as independent time ranges, then stitch
each rung's chunks at the segment level into one continuous CMAF rendition.

A ``Chunk`` is a range of the source on the segment grid (``plan_chunks``). One ffmpeg per
chunk decodes that range once and encodes the chunk's rungs (``build_chunk_argv``):

* **Fast seek, exact cut.** ``-copyts -start_at_zero`` keeps the source's timeline (the one a
  single pass sees) and ``-noaccurate_seek -ss START`` starts decoding at the source keyframe
  before the chunk. Each rung runs ``fps=RATE`` first (the rung's constant-rate grid, slots
  ``k / RATE``; every slot is decided by the input frames around it, so the pre-roll gives the
  same frames a single pass gives), then ``trim=start_pts=A:end_pts=B`` with
  ``A = ceil(START * RATE)``, ``B = ceil(END * RATE)``: integer slot numbers, so a chunk holds
  exactly the frames whose time is in ``[START, END)``; no frame is lost or duplicated at a
  seam. The trim's end closes the graph, so ffmpeg stops reading the source there.
* **The same keyframes.** The keyframe expression (``ffmpeg.keyframe_expr``) puts a keyframe on
  the first frame of every GOP cell of the video's timeline and depends on the frame's time
  only; ffmpeg's ``t`` counts from the encoder's first frame, so a chunk's expression adds the
  time of its first frame (``A / RATE``). A chunk forces keyframes on the very frames a single
  pass forces them on (tested at 30, 29.97, 60->30 and 50/3 fps, where keyframes fall a
  varying fraction of a frame after the grid points).
* **Exact segment cuts.** ffmpeg's HLS muxer cuts at keyframes *relative to its first packet*:
  a chunk whose first frame is a fraction of a frame after its nominal start (29.97 fps) could
  miss a cut. So a chunk's muxer cuts at *every* keyframe (``hls_time`` = half a GOP): one
  fragment file per GOP, and ``finish_chunk`` groups the GOPs into segments by their exact
  frame numbers (a segment is the GOPs whose first frame lies in its ``segment_s`` cell).
  ``-avoid_negative_ts make_zero`` starts every chunk's muxer at decode time 0 with the same
  B-frame delay, so its ``init.mp4`` is byte-identical to the single pass's.

A chunk may be planned with a pre-roll (``Chunk.preroll_s``, whole GOPs): its encode starts
that much earlier, so x264's rate control has settled when the chunk's own first frame comes,
and ``finish_chunk`` drops the pre-roll GOPs (closed GOPs: nothing refers to them). Measured
(``benchmarks/seams.py``, docs/benchmarks.md): without it the frames around a seam lose about
0.3 dB PSNR against a single pass (the first frames of a chunk about 2 dB); with one GOP of
pre-roll the seams match the single pass.

The frame numbers assume what a single pass gives: frame ``k`` of a rung at ``k / RATE`` from
0, and a track timescale that is a whole number of ticks per frame (ffmpeg's mp4 muxer picks a
multiple of the rate); ``finish_chunk`` refuses anything else.

``finish_chunk`` then rewrites each fragment's ``tfdt`` to the single-pass decode time (frame
number * ticks per frame: every sample of a constant-rate rung lasts the same number of ticks)
and its ``mfhd`` to the global GOP number, concatenates the fragments of a segment (``styp``
+ ``moof``/``mdat`` pairs: a CMAF segment of one or more fragments; the per-GOP ``sidx`` boxes
are dropped) into ``seg_NNNNN.m4s`` with global numbers, and checks every invariant
(keyframe first, grid, contiguity, the chunk's exact first and last frame) before it trusts the
output. ``stitch`` joins the chunks' results into the rung's VOD media playlist and its
``Track``.

Written by hand: ffmpeg, Bento4, GPAC and Shaka Packager package or concatenate whole files;
none stitches independently encoded CMAF chunks onto one timeline with one init segment.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from reelstream.media.errors import TranscodeError
from reelstream.media.ffmpeg import (
    ffmpeg_binary,
    hls_output_args,
    video_codec_args,
)
from reelstream.media.ladder import RungPlan
from reelstream.media.layout import Track, compress_timeline, frame_rate_text
from reelstream.media.mp4 import (
    codec_string,
    first_sample_is_sync,
    moof_span,
    rewrite_moof,
    top_level,
    track_info,
)
from reelstream.media.options import FFmpegOptions
from reelstream.media.packaging import (
    DASH_MEDIA,
    MediaPlaylist,
    Segment,
    parse_media_playlist,
    peak_bps,
)
from reelstream.media.probe import Container, MediaInfo, input_args

INIT_NAME = "init.mp4"
PLAYLIST_NAME = "index.m3u8"
GOP_PATTERN = "gop_%05d.m4s"  # what the chunk's ffmpeg writes, one file per GOP
GOP_PLAYLIST = "gops.m3u8"


@dataclass(frozen=True)
class Chunk:
    """A time range of the source, on the segment grid: ``[start_s, end_s)``, the last chunk
    to the end (``end_s=None``). ``first_segment`` is the global 1-based number of its first
    segment."""

    index: int
    start_s: int
    end_s: int | None
    first_segment: int
    segment_s: int
    gop_s: int
    preroll_s: int = 0  # encoded before start_s and dropped: x264's rate control warms up

    @property
    def encode_start_s(self) -> int:
        """Where the chunk's encode starts (``start_s`` less the pre-roll, on the GOP grid)."""
        return max(0, self.start_s - self.preroll_s)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Chunk:
        return cls(**data)


def plan_chunks(
    duration_s: float, options: FFmpegOptions, *, chunk_s: float, preroll_s: float = 0
) -> list[Chunk]:
    """Cut ``duration_s`` into chunks of ``chunk_s`` (rounded to a multiple of
    ``options.segment_s``); a tail shorter than half a chunk joins the previous chunk, so a
    video shorter than 1.5 chunks is one chunk. ``preroll_s`` (rounded up to whole GOPs) is
    encoded before each chunk but the first and dropped."""
    seg = options.segment_s
    preroll = math.ceil(preroll_s / options.gop_s) * options.gop_s if preroll_s > 0 else 0
    size = max(1, round(chunk_s / seg)) * seg
    starts = [0]
    while starts[-1] + size < duration_s:
        starts.append(starts[-1] + size)
    if len(starts) > 1 and duration_s - starts[-1] < size / 2:
        starts.pop()
    return [
        Chunk(
            index=i,
            start_s=start,
            end_s=starts[i + 1] if i + 1 < len(starts) else None,
            first_segment=start // seg + 1,
            segment_s=seg,
            gop_s=options.gop_s,
            preroll_s=preroll if start > 0 else 0,
        )
        for i, start in enumerate(starts)
    ]


def first_frame(t_s: int, fps: Fraction) -> int:
    """The number of the first frame at or after ``t_s`` on a rung's grid (frame k at k/fps)."""
    return math.ceil(t_s * fps)


def _rate(fps: Fraction) -> str:
    return frame_rate_text(fps)


def chunk_filter_graph(rungs: list[RungPlan], chunk: Chunk) -> str:
    """``split`` once, then per rung ``fps`` (absolute grid) -> ``trim`` (exact frame numbers)
    -> ``scale``."""
    chains = []
    for i, rung in enumerate(rungs):
        fps = f"fps={_rate(rung.fps)}"
        start = chunk.encode_start_s
        if start == 0:
            fps += ":start_time=0"  # as a single pass: the grid starts at 0
        trim = []
        if start > 0:
            trim.append(f"start_pts={first_frame(start, rung.fps)}")
        if chunk.end_s is not None:
            trim.append(f"end_pts={first_frame(chunk.end_s, rung.fps)}")
        steps = [fps] + (["trim=" + ":".join(trim)] if trim else [])
        steps += [f"scale=w={rung.width}:h={rung.height}", "format=yuv420p", "setsar=1"]
        chains.append(f"[s{i}]{','.join(steps)}[v{i}]")
    if len(chains) == 1:
        return chains[0].replace("[s0]", "[0:v:0]", 1)
    labels = "".join(f"[s{i}]" for i in range(len(chains)))
    return f"[0:v:0]split={len(chains)}{labels};" + ";".join(chains)


def build_chunk_argv(
    options: FFmpegOptions,
    source: Path,
    out_dir: Path,
    *,
    container: Container,
    info: MediaInfo,
    rungs: list[RungPlan],
    chunk: Chunk,
) -> list[str]:
    """One ffmpeg encoding ``rungs`` (video only) for ``chunk`` into ``out_dir/{rung}/``
    (``init.mp4`` + one ``gop_NNNNN.m4s`` per GOP; ``finish_chunk`` makes segments of them).
    ``-progress pipe:1`` reports ``out_time`` counted from the start of the chunk's encode
    (pre-roll included), not on the video's timeline."""
    del info  # the rungs were planned from it; kept for the signature of build_ladder_argv
    if not rungs:
        raise ValueError("a chunk encodes at least one rung")
    argv = [ffmpeg_binary(options), "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    argv += ["-nostats", "-progress", "pipe:1", "-copyts", "-start_at_zero"]
    start = chunk.encode_start_s
    if start > 0:
        argv += ["-noaccurate_seek", "-ss", str(start)]
    argv += input_args(container, source)
    argv += ["-filter_complex", chunk_filter_graph(rungs, chunk)]
    for i in range(len(rungs)):
        argv += ["-map", f"[v{i}]"]
    argv += ["-map_metadata", "-1", "-map_chapters", "-1"]
    firsts = [first_frame(start, r.fps) for r in rungs]
    argv += video_codec_args(options, rungs, firsts)
    if options.threads:
        argv += ["-threads", str(options.threads)]
    argv += ["-avoid_negative_ts", "make_zero"]
    stream_map = " ".join(f"v:{i},name:{rung.name}" for i, rung in enumerate(rungs))
    argv += hls_output_args(
        options,
        out_dir,
        stream_map,
        hls_time=options.gop_s / 2,
        segment_pattern=GOP_PATTERN,
        playlist_name=GOP_PLAYLIST,
    )
    return argv


# -- results


@dataclass(frozen=True)
class ChunkSegment:
    name: str  # "seg_00016.m4s"
    duration_s: float
    size: int
    start: int  # tfdt, track units (the single-pass value)
    duration: int


@dataclass(frozen=True)
class ChunkRungResult:
    name: str  # rung folder, "v720"
    chunk: int
    init: str  # "init.mp4"
    init_sha256: str
    codec: str
    timescale: int
    segments: list[ChunkSegment]


@dataclass(frozen=True)
class ChunkResult:
    chunk: Chunk
    rungs: list[ChunkRungResult]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkResult:
        rungs = [
            ChunkRungResult(
                **{**r, "segments": [ChunkSegment(**s) for s in r["segments"]]},
            )
            for r in data["rungs"]
        ]
        return cls(chunk=Chunk.from_json(data["chunk"]), rungs=rungs)

    def rung(self, name: str) -> ChunkRungResult:
        for r in self.rungs:
            if r.name == name:
                return r
        raise KeyError(name)


@dataclass
class _Gop:
    path: Path
    data: bytearray
    frame: int  # global number of its first frame
    frames: int


def _read_listing(folder: Path, rung: RungPlan) -> MediaPlaylist:
    """The chunk's own playlist; its init segment renamed ``init.mp4`` (with several rungs,
    ffmpeg names them ``init_N.mp4``)."""
    try:
        listing = parse_media_playlist((folder / GOP_PLAYLIST).read_text())
    except OSError as exc:
        raise TranscodeError(f"the {rung.name} chunk has no playlist") from exc
    if not listing.segments or not listing.ended or listing.init_uri is None:
        raise TranscodeError(f"the {rung.name} chunk's playlist is incomplete")
    if listing.init_uri != INIT_NAME and (folder / listing.init_uri).exists():
        os.replace(folder / listing.init_uri, folder / INIT_NAME)
    if not (folder / INIT_NAME).exists():
        raise TranscodeError(f"the {rung.name} chunk has no init segment")
    return listing


def _read_gops(
    folder: Path, rung: RungPlan, listing: MediaPlaylist, first: int, ticks: int
) -> list[_Gop]:
    gops: list[_Gop] = []
    expected_local = 0
    for entry in listing.segments:
        path = folder / entry.uri
        try:
            data = bytearray(path.read_bytes())
        except OSError as exc:
            raise TranscodeError(f"the {rung.name} chunk misses {entry.uri}") from exc
        moofs = [(s, e) for kind, _, s, e in top_level(data) if kind == b"moof"]
        if len(moofs) != 1:
            raise TranscodeError(f"{rung.name}/{entry.uri} holds {len(moofs)} fragments, not 1")
        local, duration = moof_span(data, *moofs[0])
        if local != expected_local or local % ticks or duration % ticks or not duration:
            raise TranscodeError(f"{rung.name}/{entry.uri} is not contiguous on the frame grid")
        if not first_sample_is_sync(data, *moofs[0]):
            raise TranscodeError(f"{rung.name}/{entry.uri} does not start with a keyframe")
        gops.append(_Gop(path, data, first + local // ticks, duration // ticks))
        expected_local = local + duration
    return gops


def _finish_rung(out_dir: Path, rung: RungPlan, chunk: Chunk) -> ChunkRungResult:
    folder = out_dir / rung.name
    listing = _read_listing(folder, rung)
    init_bytes = (folder / INIT_NAME).read_bytes()
    info = track_info(init_bytes)
    ticks_f = Fraction(info.timescale) / rung.fps
    if ticks_f.denominator != 1:
        raise TranscodeError(f"{rung.name}: timescale {info.timescale} is not whole frames")
    ticks = int(ticks_f)
    first = first_frame(chunk.encode_start_s, rung.fps)
    gops = _read_gops(folder, rung, listing, first, ticks)
    # every GOP starts on the keyframe grid, one GOP per grid cell, in order
    previous_cell = None
    for gop in gops:
        t = Fraction(gop.frame) / rung.fps
        cell = math.floor(t / chunk.gop_s)
        if gop.frame != first_frame(cell * chunk.gop_s, rung.fps) or (
            previous_cell is not None and cell != previous_cell + 1
        ):
            raise TranscodeError(f"{rung.name}: a GOP at frame {gop.frame} is off the grid")
        previous_cell = cell
    keep_from = first_frame(chunk.start_s, rung.fps)
    preroll = [g for g in gops if g.frame < keep_from]
    gops = gops[len(preroll) :]
    if not gops or gops[0].frame != keep_from:
        raise TranscodeError(f"{rung.name}: the chunk does not start at frame {keep_from}")
    groups: dict[int, list[_Gop]] = {}
    for gop in gops:
        t = Fraction(gop.frame) / rung.fps
        groups.setdefault(math.floor(t / chunk.segment_s), []).append(gop)
    numbers = sorted(groups)
    if numbers[0] + 1 != chunk.first_segment or numbers != list(
        range(numbers[0], numbers[0] + len(numbers))
    ):
        raise TranscodeError(f"{rung.name}: the chunk's segments are not where it starts")
    if chunk.end_s is not None:
        end = gops[-1].frame + gops[-1].frames
        if end != first_frame(chunk.end_s, rung.fps) or numbers[-1] + 1 != (
            chunk.end_s // chunk.segment_s
        ):
            raise TranscodeError(f"{rung.name}: the chunk ends at frame {end}, not at its end")
    segments = [
        _write_segment(folder, m + 1, groups[m], ticks, chunk.gop_s, rung.fps, info.timescale)
        for m in numbers
    ]
    for gop in preroll + gops:
        gop.path.unlink(missing_ok=True)
    (folder / GOP_PLAYLIST).unlink(missing_ok=True)
    return ChunkRungResult(
        name=rung.name,
        chunk=chunk.index,
        init=INIT_NAME,
        init_sha256=hashlib.sha256(init_bytes).hexdigest(),
        codec=codec_string(init_bytes),
        timescale=info.timescale,
        segments=segments,
    )


def _write_segment(
    folder: Path,
    number: int,
    gops: list[_Gop],
    ticks: int,
    gop_s: int,
    fps: Fraction,
    timescale: int,
) -> ChunkSegment:
    out = bytearray()
    for i, gop in enumerate(gops):
        for kind, start, payload, end in top_level(gop.data):
            if kind == b"moof":
                cell = math.floor(Fraction(gop.frame) / fps / gop_s)
                rewrite_moof(
                    gop.data, payload, end, decode_time=gop.frame * ticks, sequence=cell + 1
                )
            if kind in (b"moof", b"mdat") or (kind == b"styp" and i == 0):
                out += gop.data[start:end]
    name = f"seg_{number:05d}.m4s"
    tmp = folder / f".{name}.tmp"
    tmp.write_bytes(out)
    os.replace(tmp, folder / name)
    frames = sum(g.frames for g in gops)
    return ChunkSegment(
        name=name,
        duration_s=frames * ticks / timescale,
        size=len(out),
        start=gops[0].frame * ticks,
        duration=frames * ticks,
    )


def finish_chunk(out_dir: Path, rungs: list[RungPlan], chunk: Chunk) -> ChunkResult:
    """Turn what the chunk's ffmpeg wrote into final files (``out_dir/{rung}/init.mp4``,
    ``seg_NNNNN.m4s`` on the global timeline); raises ``TranscodeError`` when the output is
    not exactly the chunk (blocking file work)."""
    return ChunkResult(chunk=chunk, rungs=[_finish_rung(out_dir, r, chunk) for r in rungs])


# -- stitching


def target_duration(durations: list[float]) -> int:
    """``#EXT-X-TARGETDURATION`` as ffmpeg's HLS muxer computes it."""
    target = 0
    for d in durations:
        if target <= d:
            target = round(d)
    return target


def media_playlist(first: int, segments: list[ChunkSegment]) -> str:
    """A VOD media playlist in the format ffmpeg's HLS muxer writes."""
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{target_duration([s.duration_s for s in segments])}",
        f"#EXT-X-MEDIA-SEQUENCE:{first}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{INIT_NAME}"',
    ]
    for seg in segments:
        lines += [f"#EXTINF:{seg.duration_s:.6f},", seg.name]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def stitch(rung: RungPlan, results: list[ChunkRungResult]) -> tuple[str, Track]:
    """The rung's media playlist text and its ``Track``, from every chunk's result (in chunk
    order). Checks that the chunks are all there, share one init segment, and that their
    segments are numbered consecutively on one continuous timeline."""
    if not results:
        raise TranscodeError(f"{rung.name}: nothing to stitch")
    segments: list[ChunkSegment] = []
    for i, result in enumerate(results):
        if result.name != rung.name or result.chunk != i:
            raise TranscodeError(f"{rung.name}: chunk {i} is missing or out of order")
        if (result.init_sha256, result.codec, result.timescale) != (
            results[0].init_sha256,
            results[0].codec,
            results[0].timescale,
        ):
            raise TranscodeError(f"{rung.name}: chunk {i} has another init segment")
        for seg in result.segments:
            if segments:
                prev = segments[-1]
                if seg.start != prev.start + prev.duration:
                    raise TranscodeError(f"{rung.name}: a gap or overlap before {seg.name}")
                if seg.name != f"seg_{int(prev.name[4:9]) + 1:05d}.m4s":
                    raise TranscodeError(f"{rung.name}: {seg.name} is not the next segment")
            segments.append(seg)
    if not segments or segments[0].start != 0 or segments[0].name != "seg_00001.m4s":
        raise TranscodeError(f"{rung.name}: the first chunk does not start the rendition")
    duration = sum(s.duration_s for s in segments)
    total = sum(s.size for s in segments)
    average = round(total * 8 / duration) if duration > 0 else 0
    listed = [Segment(s.name, s.duration_s) for s in segments]
    peak = max(peak_bps(listed, [s.size for s in segments]), average)
    track = Track(
        name=rung.name,
        playlist=f"{rung.name}/{PLAYLIST_NAME}",
        init=f"{rung.name}/{INIT_NAME}",
        media=f"{rung.name}/{DASH_MEDIA}",
        start_number=1,
        codec=results[0].codec,
        peak_bps=peak,
        average_bps=average,
        duration_s=duration,
        timescale=results[0].timescale,
        timeline=compress_timeline([(s.start, s.duration) for s in segments]),
        width=rung.width,
        height=rung.height,
        frame_rate=frame_rate_text(rung.fps),
    )
    return media_playlist(1, segments), track
