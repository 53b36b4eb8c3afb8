"""Unit tests of the tus protocol rules (no server, no I/O)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from email.utils import parsedate_to_datetime

import pytest

from reelstream.ingest import tus
from reelstream.ingest.errors import (
    BadTusRequest,
    UnsupportedChecksum,
    UnsupportedMediaType,
    UnsupportedTusVersion,
    UploadTooLarge,
)


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


# -- Tus-Resumable


def test_resumable_accepts_only_1_0_0() -> None:
    tus.check_resumable("1.0.0")
    tus.check_resumable(" 1.0.0 ")
    for bad in (None, "", "0.2.2", "1.0", "2.0.0"):
        with pytest.raises(UnsupportedTusVersion):
            tus.check_resumable(bad)
    assert UnsupportedTusVersion.headers == {"Tus-Version": "1.0.0"}


# -- lengths and offsets


def test_length_parsing_and_limits() -> None:
    assert tus.parse_length("1234", 10_000) == 1234
    assert tus.parse_length("10000", 10_000) == 10_000
    with pytest.raises(UploadTooLarge, match="exceeds"):
        tus.parse_length("10001", 10_000)
    for bad in (None, "", "-1", "1.5", "abc", "0x10", "1 2", "99999999999999999999"):
        with pytest.raises(BadTusRequest):
            tus.parse_length(bad, 10_000)
    with pytest.raises(BadTusRequest, match="nothing to upload"):
        tus.parse_length("0", 10_000)
    with pytest.raises(BadTusRequest, match="Defer"):
        tus.parse_length(None, 10_000, defer="1")


def test_offset_header_parsing() -> None:
    assert tus.parse_int_header("Upload-Offset", "0") == 0
    assert tus.parse_int_header("Upload-Offset", "524288") == 524288
    with pytest.raises(BadTusRequest, match="required"):
        tus.parse_int_header("Upload-Offset", None)
    for bad in ("-5", "five", "", "+3"):
        with pytest.raises(BadTusRequest, match="non-negative integer"):
            tus.parse_int_header("Upload-Offset", bad)


def test_chunk_must_fit_in_declared_length() -> None:
    tus.check_fits(0, 10, 10)
    tus.check_fits(4, 6, 10)
    tus.check_fits(10, 0, 10)
    with pytest.raises(UploadTooLarge, match="past Upload-Length"):
        tus.check_fits(4, 7, 10)


def test_content_type_must_be_offset_octet_stream() -> None:
    tus.check_content_type("application/offset+octet-stream")
    tus.check_content_type("Application/Offset+Octet-Stream; charset=binary")
    for bad in (None, "application/octet-stream", "text/plain", ""):
        with pytest.raises(UnsupportedMediaType):
            tus.check_content_type(bad)


# -- Upload-Metadata


def test_metadata_pairs_are_validated_and_kept_encoded() -> None:
    header = f"filename {b64('clip.mp4')},title {b64('Été à Paris')},is_confidential"
    pairs = tus.parse_metadata(header)
    assert pairs == {
        "filename": b64("clip.mp4"),
        "title": b64("Été à Paris"),
        "is_confidential": "",
    }
    assert tus.parse_metadata(tus.encode_metadata(pairs)) == pairs
    assert tus.parse_metadata(None) == {}
    assert tus.parse_metadata("  ") == {}


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("filename not*base64", "not valid base64"),
        ("filename YQ", "not valid base64"),  # missing padding
        ("filename a b c", "malformed"),
        (f"filename {b64('a')},filename {b64('b')}", "twice"),
        (f"bad/key {b64('a')}", "invalid Upload-Metadata key"),
        (f",filename {b64('a')}", "malformed"),
        ("x" * 9000, "longer than"),
        (f"filename\n {b64('a')}", "invalid Upload-Metadata key"),  # a trailing newline
        (f"file\x00name {b64('a')}", "invalid Upload-Metadata key"),
    ],
)
def test_malformed_metadata_is_refused(header: str, reason: str) -> None:
    with pytest.raises(BadTusRequest, match=reason):
        tus.parse_metadata(header)


def test_video_metadata_defaults() -> None:
    meta = tus.VideoMetadata.from_pairs({"filename": b64("My Holiday.final.mov")})
    assert meta == tus.VideoMetadata("My Holiday.final.mov", "My Holiday.final", "public")
    meta = tus.VideoMetadata.from_pairs({"filename": b64("C:\\videos\\talk.mp4")})
    assert meta.title == "talk"
    meta = tus.VideoMetadata.from_pairs(
        {"filename": b64("a.mp4"), "title": b64("  A talk "), "visibility": b64("Unlisted")}
    )
    assert (meta.title, meta.visibility) == ("A talk", "unlisted")


@pytest.mark.parametrize(
    ("pairs", "reason"),
    [
        ({}, "filename"),
        ({"filename": ""}, "filename"),
        ({"filename": b64("   ")}, "filename"),
        ({"filename": b64("a.mp4"), "visibility": b64("secret")}, "visibility"),
        ({"filename": b64(b"\xff\xfe.mp4")}, "UTF-8"),
        ({"filename": b64("a" * 301)}, "longer than"),
        ({"filename": b64("a\nb.mp4")}, "control characters"),
    ],
)
def test_bad_video_metadata(pairs: dict[str, str], reason: str) -> None:
    with pytest.raises(BadTusRequest, match=reason):
        tus.VideoMetadata.from_pairs(pairs)


# -- Upload-Checksum


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256"])
def test_checksum_header(algorithm: str) -> None:
    data = b"some chunk of video"
    digest = hashlib.new(algorithm, data).digest()
    parsed = tus.parse_checksum(f"{algorithm} {b64(digest)}")
    assert parsed is not None
    assert parsed.algorithm == algorithm
    hasher = parsed.hasher()
    hasher.update(data)
    assert parsed.matches(hasher.digest())
    assert not parsed.matches(hashlib.new(algorithm, data + b"!").digest())


def test_checksum_header_errors() -> None:
    assert tus.parse_checksum(None) is None
    with pytest.raises(UnsupportedChecksum, match="crc32"):
        tus.parse_checksum("crc32 AAAAAA==")
    with pytest.raises(BadTusRequest, match="algorithm"):
        tus.parse_checksum("sha1")
    with pytest.raises(BadTusRequest, match="base64"):
        tus.parse_checksum("sha1 ***")
    with pytest.raises(BadTusRequest, match="wrong length"):
        tus.parse_checksum(f"sha256 {b64(hashlib.sha1(b'x').digest())}")


def test_discovery_headers_and_dates() -> None:
    headers = tus.options_headers(5000)
    assert headers["Tus-Version"] == "1.0.0"
    assert set(headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
    }
    assert headers["Tus-Max-Size"] == "5000"
    assert "sha1" in headers["Tus-Checksum-Algorithm"].split(",")
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert tus.http_date(when) == "Wed, 02 Jan 2030 03:04:05 GMT"
    assert parsedate_to_datetime(tus.http_date(when)) == when
