"""What the origin may serve, and how: path validation, content types, cache policy.

Everything here is pure (no I/O), so the rules that keep a request inside the storage root
can be read and tested on their own.
"""

from __future__ import annotations

from reelstream.ids import is_valid_id, is_valid_rev
from reelstream.storage.keys import is_valid_path

MAX_DEPTH = 4
"""Deepest file below a rev folder, e.g. ``v360/index.m3u8`` is depth 2."""

CONTENT_TYPES: dict[str, str] = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".ts": "video/mp2t",
    ".aac": "audio/aac",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".vtt": "text/vtt; charset=utf-8",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"

MANIFEST_SUFFIXES = frozenset({".m3u8", ".mpd"})

IMMUTABLE = "public, max-age=31536000, immutable"
"""Segments, init segments, posters: a rev folder never changes once published."""

MANIFEST_CACHE = "public, max-age=10"
"""Playlists: short, so an edge re-validates soon (cheap with the ETag) if they ever change."""

GROWING_CACHE = "public, no-cache"
"""A playlist that still grows (a rev published while it is produced, see
``reelstream.processing.progressive``): revalidated on every use (a 304 while unchanged), so a
player polling it never stalls on a stale copy."""
GROWING_SNIFF_BYTES = 256 * 1024  # a manifest larger than this is judged by its suffix only


def is_safe_path(path: str) -> bool:
    """True when ``path`` is a plain relative file path that cannot leave a rev folder.

    Every ``/``-separated part must be a valid storage-key part (``reelstream.storage.keys``:
    made of ``[A-Za-z0-9._-]``, not starting with a dot or a dash, so no ``.``/``..``, no hidden
    or temporary files) and must not contain ``..``; at most ``MAX_DEPTH`` parts. Empty parts
    (``//``, a leading or trailing ``/``) are refused, and so are backslashes, NUL bytes and
    anything percent-decoding could have produced.
    """
    return is_valid_path(path, max_parts=MAX_DEPTH)


def is_valid_location(video_id: str, rev: str, path: str) -> bool:
    """The three path parameters of a ``/media`` URL name a possible blob."""
    return is_valid_id(video_id) and is_valid_rev(rev) and is_safe_path(path)


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def content_type(path: str) -> str:
    return CONTENT_TYPES.get(_suffix(path), DEFAULT_CONTENT_TYPE)


def is_manifest(path: str) -> bool:
    return _suffix(path) in MANIFEST_SUFFIXES


def cache_control(path: str, body: bytes | None = None) -> str:
    """The cache policy of a file of a rev; a manifest's ``body`` tells whether it still
    grows (an HLS media playlist without ENDLIST, a dynamic MPD)."""
    if not is_manifest(path):
        return IMMUTABLE
    if body is not None and is_growing(body):
        return GROWING_CACHE
    return MANIFEST_CACHE


def is_growing(body: bytes) -> bool:
    if b"#EXTINF" in body:
        return b"#EXT-X-ENDLIST" not in body
    return b'type="dynamic"' in body
