"""tus 1.0.0 protocol rules: header parsing and validation, with no I/O.

Everything here is a pure function of header values, so the protocol can be tested without a
server. Each function raises the matching ``reelstream.ingest.errors`` exception with a reason
the client can act on; a refused title is the video feature's ``InvalidTitle`` (the one title
check, ``reelstream.videos.titles``, shared with ``PATCH``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from email.utils import format_datetime
from pathlib import PurePath

from reelstream.db.models import VISIBILITIES
from reelstream.ids import is_valid_id
from reelstream.ingest.errors import (
    BadTusRequest,
    UnsupportedChecksum,
    UnsupportedMediaType,
    UnsupportedTusVersion,
    UploadTooLarge,
)
from reelstream.videos.titles import check_description, check_title

TUS_VERSION = "1.0.0"
EXTENSIONS = ("creation", "creation-with-upload", "termination", "checksum", "expiration")
CHECKSUM_ALGORITHMS = ("sha1", "md5", "sha256")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"

MAX_METADATA_CHARS = 8192
MAX_NAME_CHARS = 300
_DIGITS = re.compile(r"\A[0-9]{1,19}\Z")
_KEY = re.compile(r"\A[A-Za-z0-9_.\-]{1,64}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_resumable(value: str | None) -> None:
    """Every request but OPTIONS must say ``Tus-Resumable: 1.0.0``."""
    if value is None:
        raise UnsupportedTusVersion("the Tus-Resumable header is missing; this server speaks 1.0.0")
    if value.strip() != TUS_VERSION:
        raise UnsupportedTusVersion(f"Tus-Resumable {value!r} is not supported; use {TUS_VERSION}")


def parse_int_header(name: str, value: str | None) -> int:
    """A non-negative decimal integer header (Upload-Length, Upload-Offset, Content-Length)."""
    if value is None:
        raise BadTusRequest(f"the {name} header is required")
    value = value.strip()
    if not _DIGITS.fullmatch(value):
        raise BadTusRequest(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def parse_length(value: str | None, max_bytes: int, *, defer: str | None = None) -> int:
    """Validate ``Upload-Length`` at creation. Deferred lengths are not offered."""
    if defer is not None:
        raise BadTusRequest("Upload-Defer-Length is not supported; send Upload-Length")
    length = parse_int_header("Upload-Length", value)
    if length == 0:
        raise BadTusRequest("Upload-Length is 0: there is nothing to upload")
    if length > max_bytes:
        raise UploadTooLarge(f"Upload-Length {length} exceeds the maximum of {max_bytes} bytes")
    return length


def check_content_type(value: str | None) -> None:
    media = (value or "").split(";", 1)[0].strip().lower()
    if media != OFFSET_CONTENT_TYPE:
        raise UnsupportedMediaType(
            f"a PATCH body must be sent as Content-Type: {OFFSET_CONTENT_TYPE}, got {value!r}"
        )


def check_fits(offset: int, incoming: int, length: int) -> None:
    """Refuse a chunk that would write past the declared Upload-Length."""
    if offset + incoming > length:
        raise UploadTooLarge(
            f"{incoming} bytes at offset {offset} would go past Upload-Length {length}"
        )


# -- Upload-Metadata


def parse_metadata(header: str | None) -> dict[str, str]:
    """Split ``Upload-Metadata`` into {key: base64 value as sent} after validating every pair.

    Values are kept in their encoded form so the header can be echoed exactly; each one must be
    valid base64 (an empty value is allowed for a key with no value).
    """
    if header is None or not header.strip():
        return {}
    if len(header) > MAX_METADATA_CHARS:
        raise BadTusRequest(f"Upload-Metadata is longer than {MAX_METADATA_CHARS} characters")
    pairs: dict[str, str] = {}
    for raw in header.split(","):
        parts = raw.strip().split(" ")
        if len(parts) > 2 or not parts[0]:
            raise BadTusRequest(f"malformed Upload-Metadata pair {raw.strip()!r}")
        key = parts[0]
        value = parts[1] if len(parts) == 2 else ""
        if not _KEY.fullmatch(key):
            raise BadTusRequest(f"invalid Upload-Metadata key {key!r}")
        if key in pairs:
            raise BadTusRequest(f"Upload-Metadata key {key!r} appears twice")
        _b64decode(key, value)
        pairs[key] = value
    return pairs


def encode_metadata(pairs: dict[str, str]) -> str:
    """The Upload-Metadata header for stored (still encoded) pairs."""
    return ",".join(f"{k} {v}" if v else k for k, v in pairs.items())


def _b64decode(key: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadTusRequest(f"Upload-Metadata value of {key!r} is not valid base64") from exc


def _text(pairs: dict[str, str], key: str) -> str | None:
    if key not in pairs:
        return None
    try:
        text = _b64decode(key, pairs[key]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadTusRequest(f"Upload-Metadata value of {key!r} is not UTF-8 text") from exc
    return text.strip()


@dataclass(frozen=True)
class VideoMetadata:
    """What the metadata tells us about the video being uploaded."""

    filename: str
    title: str
    visibility: str
    description: str = ""
    # ``video_id``: the upload replaces the source of that existing video (same id and URLs;
    # title, description and visibility are the video's own and not taken from the metadata)
    replaces: str | None = None

    @classmethod
    def from_pairs(cls, pairs: dict[str, str]) -> VideoMetadata:
        filename = _text(pairs, "filename")
        if not filename:
            raise BadTusRequest("Upload-Metadata must carry a non-empty 'filename'")
        _check_name("filename", filename)
        replaces = _text(pairs, "video_id")
        if replaces is not None:
            if not is_valid_id(replaces):
                raise BadTusRequest(f"video_id {replaces[:40]!r} is not a video id")
            return cls(filename=filename, title="", visibility="", replaces=replaces)
        title = _text(pairs, "title") or PurePath(filename.replace("\\", "/")).stem or filename
        title = check_title(title)
        visibility = (_text(pairs, "visibility") or "public").lower()
        if visibility not in VISIBILITIES:
            raise BadTusRequest(
                f"visibility {visibility!r} is not one of {', '.join(VISIBILITIES)}"
            )
        description = check_description(_text(pairs, "description") or "")
        return cls(filename=filename, title=title, visibility=visibility, description=description)


def _check_name(key: str, value: str) -> None:
    if len(value) > MAX_NAME_CHARS:
        raise BadTusRequest(f"{key} is longer than {MAX_NAME_CHARS} characters")
    if _CONTROL.search(value):
        raise BadTusRequest(f"{key} contains control characters")


# -- Upload-Checksum


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    digest: bytes

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)

    def matches(self, digest: bytes) -> bool:
        return digest == self.digest


def parse_checksum(value: str | None) -> Checksum | None:
    """``Upload-Checksum: <algorithm> <base64 digest>``; None when the header is absent."""
    if value is None:
        return None
    parts = value.strip().split(" ")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise BadTusRequest("Upload-Checksum must be '<algorithm> <base64 digest>'")
    algorithm = parts[0].lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise UnsupportedChecksum(
            f"checksum algorithm {parts[0]!r} is not offered; use one of "
            + ", ".join(CHECKSUM_ALGORITHMS)
        )
    try:
        digest = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadTusRequest("the Upload-Checksum digest is not valid base64") from exc
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise BadTusRequest(f"the Upload-Checksum digest has the wrong length for {algorithm}")
    return Checksum(algorithm, digest)


def http_date(when: dt.datetime) -> str:
    """An RFC 7231 IMF-fixdate, as Upload-Expires wants."""
    return format_datetime(when.astimezone(dt.UTC), usegmt=True)


def options_headers(max_bytes: int) -> dict[str, str]:
    return {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(EXTENSIONS),
        "Tus-Max-Size": str(max_bytes),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }
