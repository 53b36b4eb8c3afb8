"""The HLS master playlist, written by us from what ffmpeg actually produced.

For every rendition we read its media playlist (segment durations), the sizes of its segments
(bit rates) and its init segment (the codec string: ``avc1.PPCCLL`` from the ``avcC`` record,
``mp4a.40.N`` from the ``esds`` decoder config), then write::

    #EXTM3U
    #EXT-X-VERSION:7
    #EXT-X-INDEPENDENT-SEGMENTS
    #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",DEFAULT=YES,AUTOSELECT=YES,...
    #EXT-X-STREAM-INF:BANDWIDTH=...,AVERAGE-BANDWIDTH=...,RESOLUTION=640x360,...
    v360/index.m3u8

BANDWIDTH is the peak segment bit rate of the video plus the audio's peak; AVERAGE-BANDWIDTH
is all media segment bytes * 8 / duration, audio included. Paths are relative.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from reelstream.transcode.errors import TranscodeError
from reelstream.transcode.ladder import RungPlan

AUDIO_GROUP = "audio"
MASTER_NAME = "master.m3u8"


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


@dataclass(frozen=True)
class RenditionStats:
    """One packaged rendition (video rung or the audio track)."""

    name: str
    playlist: str  # relative to the master, e.g. "v360/index.m3u8"
    codec: str
    files: list[str]  # every file of the rendition, relative to the master
    bytes_total: int
    duration_s: float
    peak_bps: int
    average_bps: int


@dataclass(frozen=True)
class Variant:
    """One ``#EXT-X-STREAM-INF`` entry."""

    rung: RungPlan
    video: RenditionStats
    bandwidth: int
    average_bandwidth: int
    codecs: str


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


# -- codec strings from init segments


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of ISO-BMFF boxes in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
_VISUAL_ENTRY = 78  # bytes of VisualSampleEntry fields before its child boxes
_AUDIO_ENTRY = 28  # bytes of AudioSampleEntry (v0) fields before its child boxes


def _sample_entries(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    for kind, s, e in _boxes(data, start, end):
        if kind in _CONTAINERS:
            yield from _sample_entries(data, s, e)
        elif kind == b"stsd":
            yield from _boxes(data, s + 8, e)  # version/flags + entry count


def codec_string(init_segment: bytes) -> str:
    """The RFC 6381 codec string of the first track of an fMP4 init segment."""
    for kind, s, e in _sample_entries(init_segment, 0, len(init_segment)):
        if kind in (b"avc1", b"avc3"):
            for child, cs, ce in _boxes(init_segment, s + _VISUAL_ENTRY, e):
                if child == b"avcC" and ce - cs >= 4:
                    profile, compat, level = init_segment[cs + 1 : cs + 4]
                    return f"{kind.decode()}.{profile:02x}{compat:02x}{level:02x}"
        if kind == b"mp4a":
            for child, cs, ce in _boxes(init_segment, s + _AUDIO_ENTRY, e):
                if child == b"esds":
                    return _mp4a_codec(init_segment[cs + 4 : ce])  # skip version/flags
            return "mp4a.40.2"
    raise TranscodeError("cannot find the codec configuration in an init segment")


def _descriptors(data: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos + 2 <= len(data):
        tag = data[pos]
        pos += 1
        size = 0
        for _ in range(4):
            byte = data[pos]
            pos += 1
            size = (size << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        yield tag, data[pos : pos + size]
        pos += size


def _mp4a_codec(esds: bytes) -> str:
    for tag, body in _descriptors(esds):
        if tag != 0x03 or len(body) < 3:  # ES_Descriptor
            continue
        flags = body[2]
        pos = 3 + (2 if flags & 0x80 else 0)
        if flags & 0x40:
            pos += 1 + body[pos]
        if flags & 0x20:
            pos += 2
        for dtag, dbody in _descriptors(body[pos:]):
            if dtag != 0x04 or not dbody:  # DecoderConfigDescriptor
                continue
            oti = dbody[0]
            for stag, sbody in _descriptors(dbody[13:]):
                if stag == 0x05 and sbody:  # DecoderSpecificInfo: AudioSpecificConfig
                    aot = sbody[0] >> 3
                    if aot == 31 and len(sbody) > 1:
                        aot = 32 + (((sbody[0] & 0x07) << 3) | (sbody[1] >> 5))
                    return f"mp4a.{oti:02x}.{aot}"
            return f"mp4a.{oti:02x}"
    return "mp4a.40.2"


# -- statistics and the master playlist


def rendition_stats(out_dir: Path, name: str) -> RenditionStats:
    """Read one packaged rendition folder (``out_dir/name``) and measure it."""
    folder = out_dir / name
    playlist_path = folder / "index.m3u8"
    playlist = parse_media_playlist(playlist_path.read_text())
    if not playlist.segments or not playlist.ended:
        raise TranscodeError(f"the {name} playlist is incomplete")
    if playlist.init_uri is None:
        raise TranscodeError(f"the {name} playlist has no init segment")
    init_bytes = (folder / playlist.init_uri).read_bytes()
    sizes = [(folder / seg.uri).stat().st_size for seg in playlist.segments]
    duration = sum(seg.duration_s for seg in playlist.segments)
    total = len(init_bytes) + sum(sizes)
    average = round(sum(sizes) * 8 / duration) if duration > 0 else 0
    peak = max(_peak_bps(playlist.segments, sizes), average)
    files = [f"{name}/index.m3u8", f"{name}/{playlist.init_uri}"]
    files += [f"{name}/{seg.uri}" for seg in playlist.segments]
    return RenditionStats(
        name=name,
        playlist=f"{name}/index.m3u8",
        codec=codec_string(init_bytes),
        files=files,
        bytes_total=total,
        duration_s=duration,
        peak_bps=peak,
        average_bps=average,
    )


def _peak_bps(segments: list[Segment], sizes: list[int]) -> int:
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


def build_variants(
    rungs: list[RungPlan], videos: list[RenditionStats], audio: RenditionStats | None
) -> list[Variant]:
    variants = []
    for rung, video in zip(rungs, videos, strict=True):
        bandwidth = video.peak_bps + (audio.peak_bps if audio else 0)
        average = video.average_bps + (audio.average_bps if audio else 0)
        codecs = video.codec + (f",{audio.codec}" if audio else "")
        variants.append(Variant(rung, video, bandwidth, average, codecs))
    return sorted(variants, key=lambda v: v.bandwidth)


def _fps_text(fps: Fraction) -> str:
    return f"{float(fps):.3f}"


def master_playlist(variants: list[Variant], audio: RenditionStats | None) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="Main",'
            f'DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="{audio.playlist}"'
        )
    for v in variants:
        attrs = [
            f"BANDWIDTH={v.bandwidth}",
            f"AVERAGE-BANDWIDTH={v.average_bandwidth}",
            f"RESOLUTION={v.rung.width}x{v.rung.height}",
            f"FRAME-RATE={_fps_text(v.rung.fps)}",
            f'CODECS="{v.codecs}"',
        ]
        if audio is not None:
            attrs.append(f'AUDIO="{AUDIO_GROUP}"')
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attrs))
        lines.append(v.video.playlist)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Package:
    variants: list[Variant]
    audio: RenditionStats | None
    master: str


def package(out_dir: Path, rungs: list[RungPlan], has_audio: bool, audio_name: str) -> Package:
    """Measure every rendition in ``out_dir`` and write ``out_dir/master.m3u8``."""
    videos = [rendition_stats(out_dir, rung.name) for rung in rungs]
    audio = rendition_stats(out_dir, audio_name) if has_audio else None
    variants = build_variants(rungs, videos, audio)
    text = master_playlist(variants, audio)
    (out_dir / MASTER_NAME).write_text(text)
    return Package(variants, audio, text)
