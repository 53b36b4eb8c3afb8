"""Opaque cursors for keyset pagination, shared by the video and the admin job listings.

A cursor is base64url (unpadded) of a JSON list: the position of the last item shown followed
by a short fingerprint of the listing's filters, so a cursor is refused (``InvalidCursor``,
400) with other filters than the listing that issued it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from reelstream.errors import ReelstreamError

T = TypeVar("T")


class InvalidCursor(ReelstreamError):
    """A pagination cursor that was not issued by us (or for other filters)."""

    code = "invalid_cursor"
    status = 400


def filter_key(*filters: object) -> str:
    """A short fingerprint of a listing's filters: a cursor is valid for the same filters only."""
    return hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:12]


def encode_cursor(position: list[Any], filters: str) -> str:
    """``position`` (JSON values) and the ``filter_key`` of the listing."""
    raw = json.dumps([*position, filters]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str, filters: str, parse: Callable[[Any], tuple[T, object]], filter_names: str
) -> T:
    """The position in ``cursor``. ``parse`` takes the decoded JSON and returns the position
    and the filter key it carries, raising ``ValueError``/``TypeError`` when it is not one we
    issue; ``filter_names`` names the filters in the refusal of a cursor of other filters."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position, key = parse(json.loads(raw))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidCursor("the cursor is not one this server issued") from exc
    if key != filters:
        raise InvalidCursor(
            f"the cursor belongs to a listing with other filters ({filter_names}): "
            "start again without a cursor"
        )
    return position
