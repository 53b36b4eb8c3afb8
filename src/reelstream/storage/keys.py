"""The object-key layout: where every blob of a video lives, and which keys are valid.

Keys are ``/``-separated relative paths; every part matches ``PART_PATTERN`` (letters, digits,
``_``, ``.``, ``-``; not starting with ``.`` or ``-``; at most 128 characters) and never
contains ``..``, so no key can escape a backend's root, name a hidden file or read as an
option. The blob stores, the origin (``reelstream.delivery.media``) and the edge's nginx
locations (``reelstream.edge.render``) all derive their checks from ``PART_PATTERN``.

Layout used by reelstream::

    videos/{video_id}/source                      the uploaded original
    videos/{video_id}/captions/{lang}.{sha}.vtt   a caption's WebVTT text (outside any rev)
    videos/{video_id}/r/{rev}/...                 one attempt's outputs (published by rev)
"""

from __future__ import annotations

import re

from reelstream.storage.errors import InvalidKey

PART_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
"""One part of a key (a regex without anchors, for PCRE and Python alike)."""

MAX_KEY_PARTS = 16

_PART = re.compile(PART_PATTERN)


def is_valid_part(part: str) -> bool:
    """``part`` may appear between two ``/`` of a key."""
    return _PART.fullmatch(part) is not None and ".." not in part


def is_valid_path(path: str, *, max_parts: int = MAX_KEY_PARTS) -> bool:
    """``path`` is a non-empty relative path of at most ``max_parts`` valid parts."""
    parts = path.split("/")
    return bool(path) and len(parts) <= max_parts and all(is_valid_part(p) for p in parts)


def validate_key(key: str) -> str:
    """``key`` itself, or ``InvalidKey``."""
    if not is_valid_path(key):
        raise InvalidKey(f"invalid storage key {key!r}")
    return key


def video_prefix(video_id: str) -> str:
    """Everything stored for one video."""
    return f"videos/{video_id}"


def source_key(video_id: str, version: str | None = None) -> str:
    """Where a video's uploaded source is kept: ``videos/{vid}/source``, or, for a source
    that replaces it (``version``: the replacing upload's id), ``videos/{vid}/source.{version}``
    (both live side by side until the new one is published)."""
    base = f"{video_prefix(video_id)}/source"
    return f"{base}.{version}" if version else base


def caption_key(video_id: str, lang: str, sha256: str) -> str:
    """Where a caption's WebVTT text is kept (the source of truth, outside any rev)."""
    return f"{video_prefix(video_id)}/captions/{lang}.{sha256[:16]}.vtt"


def revs_prefix(video_id: str) -> str:
    """The folder holding every rev of a video."""
    return f"{video_prefix(video_id)}/r"


def rev_prefix(video_id: str, rev: str) -> str:
    """The folder of one rev."""
    return f"{revs_prefix(video_id)}/{rev}"


def rev_of(video_id: str, key: str) -> str | None:
    """The rev a key below ``revs_prefix(video_id)`` belongs to; ``None`` for other keys."""
    head = revs_prefix(video_id) + "/"
    if not key.startswith(head):
        return None
    rev = key[len(head) :].split("/", 1)[0]
    return rev or None
