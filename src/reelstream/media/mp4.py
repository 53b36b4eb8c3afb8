"""Just enough ISO-BMFF (MP4) reading for packaging, pure and bounded.

* ``codec_string``: the RFC 6381 codec string of an fMP4 init segment (``avc1.PPCCLL`` from the
  ``avcC`` record, ``mp4a.40.N`` from the ``esds`` decoder config);
* ``track_info``: the track's timescale (``mdhd``) and default sample duration (``trex``);
* ``fragment_span``: where a media segment starts on the track's timeline (``tfdt``) and how
  long it lasts (the sum of its sample durations from ``trun``/``tfhd``/``trex``).

The DASH SegmentTimeline is built from these numbers, so it describes the segments exactly as
the player's demuxer will see them, in each track's own timescale.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from reelstream.media.errors import TranscodeError

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex"}
_VISUAL_ENTRY = 78  # bytes of VisualSampleEntry fields before its child boxes
_AUDIO_ENTRY = 28  # bytes of AudioSampleEntry (v0) fields before its child boxes
MAX_MOOF_BYTES = 16 * 1024 * 1024


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
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


def _find(
    data: bytes, path: list[bytes], start: int = 0, end: int | None = None
) -> tuple[int, int]:
    """Payload bounds of the first box at ``path`` (e.g. ``[b"moov", b"trak", b"mdia"]``)."""
    for kind, s, e in boxes(data, start, end):
        if kind == path[0]:
            return (s, e) if len(path) == 1 else _find(data, path[1:], s, e)
    raise TranscodeError(f"no {b'/'.join(path).decode()} box in an MP4 segment")


# -- codec strings


def _sample_entries(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    for kind, s, e in boxes(data, start, end):
        if kind in _CONTAINERS:
            yield from _sample_entries(data, s, e)
        elif kind == b"stsd":
            yield from boxes(data, s + 8, e)  # version/flags + entry count


def codec_string(init_segment: bytes) -> str:
    """The RFC 6381 codec string of the first track of an fMP4 init segment."""
    for kind, s, e in _sample_entries(init_segment, 0, len(init_segment)):
        if kind in (b"avc1", b"avc3"):
            for child, cs, ce in boxes(init_segment, s + _VISUAL_ENTRY, e):
                if child == b"avcC" and ce - cs >= 4:
                    profile, compat, level = init_segment[cs + 1 : cs + 4]
                    return f"{kind.decode()}.{profile:02x}{compat:02x}{level:02x}"
        if kind == b"mp4a":
            for child, cs, ce in boxes(init_segment, s + _AUDIO_ENTRY, e):
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
            if pos >= len(data):
                return
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


# -- timing


@dataclass(frozen=True)
class TrackInfo:
    timescale: int
    default_sample_duration: int  # from ``trex``; 0 when absent


def track_info(init_segment: bytes) -> TrackInfo:
    """The timescale and ``trex`` defaults of the (single) track of an init segment."""
    s, _ = _find(init_segment, [b"moov", b"trak", b"mdia", b"mdhd"])
    version = init_segment[s]
    offset = s + 4 + (16 if version == 1 else 8)
    (timescale,) = struct.unpack_from(">I", init_segment, offset)
    if timescale <= 0:
        raise TranscodeError("an init segment has a zero timescale")
    default = 0
    try:
        ts, te = _find(init_segment, [b"moov", b"mvex", b"trex"])
        if te - ts >= 24:
            default = struct.unpack_from(">I", init_segment, ts + 12)[0]
    except TranscodeError:
        pass
    return TrackInfo(timescale=timescale, default_sample_duration=default)


def _traf_span(data: bytes, start: int, end: int, trex_default: int) -> tuple[int | None, int]:
    """(baseMediaDecodeTime or None, summed sample durations) of one ``traf``."""
    base: int | None = None
    default = trex_default
    total = 0
    for kind, s, e in boxes(data, start, end):
        if kind == b"tfhd" and e - s >= 8:
            flags = int.from_bytes(data[s + 1 : s + 4], "big")
            pos = s + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
            if flags & 0x08 and pos + 4 <= e:
                default = struct.unpack_from(">I", data, pos)[0]
        elif kind == b"tfdt" and e - s >= 8:
            version = data[s]
            base = struct.unpack_from(">Q" if version == 1 else ">I", data, s + 4)[0]
        elif kind == b"trun" and e - s >= 8:
            flags = int.from_bytes(data[s + 1 : s + 4], "big")
            (count,) = struct.unpack_from(">I", data, s + 4)
            pos = s + 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
            if not flags & 0x100:
                total += count * default
                continue
            stride = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
            if pos + stride * count > e:
                raise TranscodeError("a trun box is truncated")
            for i in range(count):
                total += struct.unpack_from(">I", data, pos + i * stride)[0]
    return base, total


def fragment_span(segment: BinaryIO, trex_default: int = 0) -> tuple[int, int]:
    """(decode time of the first sample, duration) of a CMAF media segment, in track units.

    Reads only box headers and the ``moof`` boxes (never the media data).
    """
    start: int | None = None
    total = 0
    while True:
        header = segment.read(8)
        if len(header) < 8:
            break
        size, kind = struct.unpack(">I4s", header)
        used = 8
        if size == 1:
            size = struct.unpack(">Q", segment.read(8))[0]
            used = 16
        if size == 0:
            break  # box runs to the end of the file: media data
        if size < used:
            raise TranscodeError("a media segment has a malformed box")
        if kind == b"moof":
            if size > MAX_MOOF_BYTES:
                raise TranscodeError("a moof box is implausibly large")
            payload = segment.read(size - used)
            for child, s, e in boxes(payload):
                if child == b"traf":
                    base, duration = _traf_span(payload, s, e, trex_default)
                    if start is None and base is not None:
                        start = base
                    total += duration
                    break  # one track per segment
        else:
            segment.seek(size - used, 1)
    if start is None:
        raise TranscodeError("a media segment has no tfdt box")
    return start, total


def fragment_span_of(path: Path, trex_default: int = 0) -> tuple[int, int]:
    with path.open("rb") as fh:
        return fragment_span(fh, trex_default)


# -- rewriting fragments (chunked encodes are stitched onto one timeline)


def top_level(data: bytes | bytearray) -> list[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of the top-level boxes of a file; a
    truncated or malformed box is an error (a media segment must be whole)."""
    out = []
    pos = 0
    while pos < len(data):
        if pos + 8 > len(data):
            raise TranscodeError("a media segment ends inside a box header")
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > len(data):
                raise TranscodeError("a media segment ends inside a box header")
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = len(data) - pos
        if size < header or pos + size > len(data):
            raise TranscodeError(f"a {kind!r} box runs past the end of a media segment")
        out.append((kind, pos, pos + header, pos + size))
        pos += size
    return out


def rewrite_moof(data: bytearray, start: int, end: int, *, decode_time: int, sequence: int) -> None:
    """Set, in place, the ``mfhd`` sequence number and the ``tfdt`` base media decode time of
    the ``moof`` whose payload is ``data[start:end]`` (one track). Sizes never change."""
    seen_mfhd = seen_tfdt = False
    for kind, s, e in boxes(bytes(data[start:end])):
        s, e = s + start, e + start
        if kind == b"mfhd" and e - s >= 8:
            struct.pack_into(">I", data, s + 4, sequence)
            seen_mfhd = True
        elif kind == b"traf":
            for child, cs, ce in boxes(bytes(data[s:e])):
                if child == b"tfdt" and ce - cs >= 8:
                    at = s + cs + 4
                    if data[s + cs] == 1 and ce - cs >= 12:
                        struct.pack_into(">Q", data, at, decode_time)
                    elif decode_time < 1 << 32:
                        struct.pack_into(">I", data, at, decode_time)
                    else:
                        raise TranscodeError("a decode time does not fit a version 0 tfdt box")
                    seen_tfdt = True
    if not (seen_mfhd and seen_tfdt):
        raise TranscodeError("a moof box has no mfhd or no tfdt box")


def moof_span(
    data: bytes | bytearray, start: int, end: int, trex_default: int = 0
) -> tuple[int, int]:
    """(``tfdt``, summed sample durations) of the first track fragment of one ``moof``."""
    payload = bytes(data[start:end])
    for kind, s, e in boxes(payload):
        if kind == b"traf":
            base, duration = _traf_span(payload, s, e, trex_default)
            if base is None:
                break
            return base, duration
    raise TranscodeError("a moof box has no track fragment with a tfdt box")


def first_sample_is_sync(data: bytes | bytearray, start: int, end: int) -> bool:
    """Whether the first sample of a ``moof`` (payload ``data[start:end]``) is a sync sample
    (a keyframe): its sample flags from ``trun`` (first-sample or per-sample flags) or the
    ``tfhd`` default; no flags at all counts as sync."""
    payload = bytes(data[start:end])
    for kind, s, e in boxes(payload):
        if kind != b"traf":
            continue
        flags_value: int | None = None
        for child, cs, ce in boxes(payload, s, e):
            if child == b"tfhd" and ce - cs >= 8:
                tf = int.from_bytes(payload[cs + 1 : cs + 4], "big")
                pos = cs + 8 + (8 if tf & 0x01 else 0) + (4 if tf & 0x02 else 0)
                pos += (4 if tf & 0x08 else 0) + (4 if tf & 0x10 else 0)
                if tf & 0x20 and pos + 4 <= ce:
                    flags_value = struct.unpack_from(">I", payload, pos)[0]
            elif child == b"trun" and ce - cs >= 8:
                tr = int.from_bytes(payload[cs + 1 : cs + 4], "big")
                pos = cs + 8 + (4 if tr & 0x01 else 0)
                if tr & 0x04 and pos + 4 <= ce:
                    flags_value = struct.unpack_from(">I", payload, pos)[0]
                elif tr & 0x400:
                    pos += (4 if tr & 0x100 else 0) + (4 if tr & 0x200 else 0)
                    if pos + 4 <= ce:
                        flags_value = struct.unpack_from(">I", payload, pos)[0]
                break
        return flags_value is None or not flags_value & 0x00010000
    raise TranscodeError("a moof box has no track fragment")
