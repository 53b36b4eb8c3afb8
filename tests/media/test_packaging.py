from __future__ import annotations

import struct

import pytest

from reelstream.media.errors import TranscodeError
from reelstream.media.packaging import (
    Segment,
    codec_string,
    parse_attributes,
    parse_media_playlist,
    peak_bps,
)


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def init_segment(entry: bytes) -> bytes:
    stsd = box(b"stsd", b"\x00\x00\x00\x00" + struct.pack(">I", 1) + entry)
    stbl = box(b"stbl", stsd)
    trak = box(b"trak", box(b"mdia", box(b"minf", stbl)))
    return box(b"ftyp", b"iso6\x00\x00\x00\x00") + box(b"moov", box(b"mvhd", bytes(100)) + trak)


def avc1(profile: int, compat: int, level: int) -> bytes:
    avcc = box(b"avcC", bytes([1, profile, compat, level, 0xFF, 0xE1]))
    return box(b"avc1", bytes(78) + avcc)


def descriptor(tag: int, body: bytes) -> bytes:
    return bytes([tag, 0x80, 0x80, 0x80, len(body)]) + body  # 4-byte size form, like ffmpeg


def mp4a(audio_object_type: int) -> bytes:
    asc = bytes([(audio_object_type << 3) | 0x01, 0x90])
    dec_config = descriptor(0x04, bytes([0x40, 0x15]) + bytes(11) + descriptor(0x05, asc))
    es = descriptor(0x03, b"\x00\x01\x00" + dec_config + descriptor(0x06, b"\x02"))
    esds = box(b"esds", b"\x00\x00\x00\x00" + es)
    return box(b"mp4a", bytes(28) + esds)


def test_codec_strings_from_init_segments() -> None:
    assert codec_string(init_segment(avc1(0x64, 0x00, 0x1F))) == "avc1.64001f"
    assert codec_string(init_segment(avc1(0x42, 0xC0, 0x15))) == "avc1.42c015"
    assert codec_string(init_segment(mp4a(2))) == "mp4a.40.2"
    assert codec_string(init_segment(mp4a(5))) == "mp4a.40.5"
    with pytest.raises(TranscodeError):
        codec_string(box(b"ftyp", b"iso6") + box(b"free", b""))


def test_parse_media_playlist() -> None:
    text = (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1\n"
        '#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI="init_0.mp4"\n'
        "#EXTINF:4.000000,\nseg_00001.m4s\n#EXTINF:2.5,\nseg_00002.m4s\n#EXT-X-ENDLIST\n"
    )
    pl = parse_media_playlist(text)
    assert pl.init_uri == "init_0.mp4"
    assert pl.target_duration == 4 and pl.ended
    assert pl.segments == [Segment("seg_00001.m4s", 4.0), Segment("seg_00002.m4s", 2.5)]
    with pytest.raises(TranscodeError):
        parse_media_playlist("seg.m4s\n")


def test_peak_ignores_a_short_tail_segment() -> None:
    segs = [Segment("a", 4.0), Segment("b", 4.0), Segment("c", 0.2)]
    assert peak_bps(segs, [400_000, 500_000, 60_000]) == 1_000_000
    # a short segment that is not the last one counts
    segs = [Segment("a", 0.2), Segment("b", 4.0)]
    assert peak_bps(segs, [60_000, 500_000]) == 2_400_000


def test_parse_attributes_handles_quoted_commas() -> None:
    assert parse_attributes('A=1,CODECS="avc1.64001f,mp4a.40.2",B=x') == {
        "A": "1",
        "CODECS": "avc1.64001f,mp4a.40.2",
        "B": "x",
    }
