"""Pure rules of the origin: which paths may be served, and how Range headers are read."""

from __future__ import annotations

import pytest

from reelstream.delivery.media import (
    DEFAULT_CONTENT_TYPE,
    IMMUTABLE,
    MANIFEST_CACHE,
    cache_control,
    content_type,
    is_safe_path,
    is_valid_location,
)
from reelstream.delivery.responses import UNSATISFIABLE, ByteRange, parse_range


@pytest.mark.parametrize(
    "path",
    [
        "master.m3u8",
        "poster.jpg",
        "v360/index.m3u8",
        "v360/seg_00001.m4s",
        "audio/init.mp4",
        "a/b/c/d",
        "under_score-dash.x",
    ],
)
def test_safe_paths(path: str) -> None:
    assert is_safe_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "..",
        ".",
        "../x",
        "a/../b",
        "a/..",
        "..a",
        "a..b",
        ".hidden",
        "v360/.tmp",
        "/etc/passwd",
        "a//b",
        "a/",
        "a\\b",
        "..\\x",
        "a b",
        "a%2e",
        "x\x00y",
        "é.m4s",
        "a/b/c/d/e",
        "x" * 129,
        "C:\\secret",
    ],
)
def test_unsafe_paths(path: str) -> None:
    assert not is_safe_path(path)


def test_location_checks_ids_and_rev() -> None:
    assert is_valid_location("AAAAAAAAAAAAAAAA", "0123456789ab", "master.m3u8")
    assert not is_valid_location("AAAAAAAAAAAAAAA", "0123456789ab", "master.m3u8")
    assert not is_valid_location("AAAAAAAAAAAAAAAA", "0123456789AB", "master.m3u8")
    assert not is_valid_location("..", "0123456789ab", "master.m3u8")
    assert not is_valid_location("AAAAAAAAAAAAAAAA", "..", "master.m3u8")


def test_content_types_and_cache() -> None:
    assert content_type("x/INDEX.M3U8") == "application/vnd.apple.mpegurl"
    assert content_type("archive.tar.gz") == DEFAULT_CONTENT_TYPE
    assert content_type("m3u8") == DEFAULT_CONTENT_TYPE
    assert cache_control("v/index.m3u8") == MANIFEST_CACHE
    assert cache_control("manifest.mpd") == MANIFEST_CACHE
    assert cache_control("v/seg_1.m4s") == IMMUTABLE


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-4", 10, ByteRange(0, 4, 10)),
        ("bytes=5-", 10, ByteRange(5, 9, 10)),
        ("bytes=-3", 10, ByteRange(7, 9, 10)),
        ("bytes=-30", 10, ByteRange(0, 9, 10)),
        ("bytes=8-100", 10, ByteRange(8, 9, 10)),
        ("bytes=9-9", 10, ByteRange(9, 9, 10)),
        ("bytes=10-", 10, UNSATISFIABLE),
        ("bytes=10-20", 10, UNSATISFIABLE),
        ("bytes=-0", 10, UNSATISFIABLE),
        ("bytes=0-", 0, UNSATISFIABLE),
        ("bytes=-1", 0, UNSATISFIABLE),
        ("bytes=4-3", 10, None),
        ("bytes=0-1,4-5", 10, None),
        ("bytes=a-b", 10, None),
        ("bytes=-", 10, None),
        ("bits=0-1", 10, None),
        ("0-1", 10, None),
        ("bytes=+1-2", 10, None),
        ("bytes=0x1-2", 10, None),
        ("bytes=\u0663-5", 10, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


def test_byte_range_headers() -> None:
    r = ByteRange(10, 19, 100)
    assert r.length == 10
    assert r.content_range == "bytes 10-19/100"
