"""Measure what ffmpeg produced and describe it as a ``Layout`` (the manifests' input).

For every rendition we read its media playlist (segment names and durations), the sizes of its
segments (bit rates), its init segment (codec string, timescale) and the ``moof`` box of every
segment (exact start and duration on the track's timeline, for the DASH SegmentTimeline).

Bit rates: a track's ``peak_bps`` is its highest segment bit rate (a short final segment left
out), ``average_bps`` all media bytes * 8 / duration. The HLS master adds the audio's numbers to
each video variant (``reelstream.media.hls``); the MPD lists each track on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from reelstream.media.errors import TranscodeError
from reelstream.media.ladder import RungPlan
from reelstream.media.layout import Layout, Track, compress_timeline, frame_rate_text
from reelstream.media.mp4 import codec_string, fragment_span_of, track_info

__all__ = ["codec_string", "package", "parse_attributes", "parse_media_playlist"]

_SEGMENT_NAME = re.compile(r"^seg_(\d{5})\.m4s$")
DASH_MEDIA = "seg_$Number%05d$.m4s"  # the DASH template of ffmpeg.SEGMENT_PATTERN


@dataclass(frozen=True)
class Segment:
    uri: str
    duration_s: float


@dataclass(frozen=True)
class MediaPlaylist:
    init_uri: str | None
    segments: list[Segment]
    target_duration: int | None
    ended: bool


# -- media playlists


def parse_media_playlist(text: str) -> MediaPlaylist:
    init: str | None = None
    target: int | None = None
    ended = False
    segments: list[Segment] = []
    pending: float | None = None
    lines = [line.strip() for line in text.splitlines()]
    if not lines or lines[0] != "#EXTM3U":
        raise TranscodeError("ffmpeg wrote a media playlist without #EXTM3U")
    for line in lines[1:]:
        if not line:
            continue
        if line.startswith("#EXT-X-MAP:"):
            init = parse_attributes(line.split(":", 1)[1]).get("URI")
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            pending = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif not line.startswith("#"):
            if pending is None:
                raise TranscodeError(f"segment {line!r} has no #EXTINF")
            segments.append(Segment(line, pending))
            pending = None
    return MediaPlaylist(init, segments, target, ended)


def parse_attributes(text: str) -> dict[str, str]:
    """Parse ``KEY=VALUE,KEY="quoted, value"`` attribute lists."""
    out: dict[str, str] = {}
    i = 0
    while i < len(text):
        eq = text.find("=", i)
        if eq < 0:
            break
        key = text[i:eq].strip()
        if eq + 1 < len(text) and text[eq + 1] == '"':
            end = text.find('"', eq + 2)
            end = len(text) if end < 0 else end
            out[key] = text[eq + 2 : end]
            i = end + 2
        else:
            end = text.find(",", eq)
            end = len(text) if end < 0 else end
            out[key] = text[eq + 1 : end]
            i = end + 1
    return out


# -- measuring renditions


def peak_bps(segments: list[Segment], sizes: list[int]) -> int:
    """Highest segment bit rate. A short final segment (under half the longest) is left out:
    a lone keyframe in a 0.2 s tail would otherwise claim a peak no player ever sees."""
    longest = max(seg.duration_s for seg in segments)
    rates = [
        size * 8 / seg.duration_s
        for i, (seg, size) in enumerate(zip(segments, sizes, strict=True))
        if seg.duration_s > 0
        and not (i == len(segments) - 1 and i > 0 and seg.duration_s < longest / 2)
    ]
    return round(max(rates)) if rates else 0


def _start_number(name: str, segments: list[Segment]) -> int:
    """The number of the first segment; the names must be consecutive ``seg_NNNNN.m4s``."""
    numbers = []
    for seg in segments:
        match = _SEGMENT_NAME.fullmatch(seg.uri)
        if match is None:
            raise TranscodeError(f"the {name} playlist names an unexpected segment {seg.uri!r}")
        numbers.append(int(match.group(1)))
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise TranscodeError(f"the {name} segments are not numbered consecutively")
    return numbers[0]


@dataclass(frozen=True)
class Measured:
    track: Track
    files: list[str]  # every file of the rendition, relative to the rev folder


def measure_track(
    out_dir: Path,
    name: str,
    rung: RungPlan | None = None,
    *,
    growing: bool = False,
    limit: int | None = None,
) -> Measured:
    """Read one packaged rendition folder (``out_dir/name``) and measure it; ``growing``:
    the segments written so far (ffmpeg still appends to an EVENT playlist), at most
    ``limit`` of them."""
    folder = out_dir / name
    playlist = parse_media_playlist((folder / "index.m3u8").read_text())
    if limit is not None:
        playlist = MediaPlaylist(
            playlist.init_uri, playlist.segments[:limit], playlist.target_duration, False
        )
    if not playlist.segments or not (playlist.ended or growing):
        raise TranscodeError(f"the {name} playlist is incomplete")
    if playlist.init_uri is None:
        raise TranscodeError(f"the {name} playlist has no init segment")
    init_bytes = (folder / playlist.init_uri).read_bytes()
    info = track_info(init_bytes)
    sizes = [(folder / seg.uri).stat().st_size for seg in playlist.segments]
    spans = [
        fragment_span_of(folder / seg.uri, info.default_sample_duration)
        for seg in playlist.segments
    ]
    duration = sum(seg.duration_s for seg in playlist.segments)
    average = round(sum(sizes) * 8 / duration) if duration > 0 else 0
    peak = max(peak_bps(playlist.segments, sizes), average)
    files = [f"{name}/index.m3u8", f"{name}/{playlist.init_uri}"]
    files += [f"{name}/{seg.uri}" for seg in playlist.segments]
    track = Track(
        name=name,
        playlist=f"{name}/index.m3u8",
        init=f"{name}/{playlist.init_uri}",
        media=f"{name}/{DASH_MEDIA}",
        start_number=_start_number(name, playlist.segments),
        codec=codec_string(init_bytes),
        peak_bps=peak,
        average_bps=average,
        duration_s=duration,
        timescale=info.timescale,
        timeline=compress_timeline(spans),
        width=rung.width if rung else 0,
        height=rung.height if rung else 0,
        frame_rate=frame_rate_text(rung.fps) if rung else "",
    )
    return Measured(track, files)


@dataclass(frozen=True)
class Packaged:
    layout: Layout
    files: list[str]  # media files and media playlists, relative to the rev folder


def package(
    out_dir: Path,
    rungs: list[RungPlan],
    has_audio: bool,
    audio_name: str,
    *,
    storyboard: str | None = None,
    storyboard_files: list[str] | None = None,
) -> Packaged:
    """Measure every rendition in ``out_dir``; the manifests are written at publish time."""
    videos = sorted(
        (measure_track(out_dir, rung.name, rung) for rung in rungs),
        key=lambda m: (m.track.height, m.track.peak_bps),
    )
    audio = measure_track(out_dir, audio_name) if has_audio else None
    files = [f for m in videos for f in m.files] + (audio.files if audio else [])
    files += storyboard_files or []
    duration = max(m.track.duration_s for m in videos)
    layout = Layout(
        videos=[m.track for m in videos],
        audio=audio.track if audio else None,
        duration_s=duration,
        storyboard=storyboard,
    )
    return Packaged(layout, files)
