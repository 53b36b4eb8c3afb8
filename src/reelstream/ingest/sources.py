"""Which stored source an upload writes: a new video's, or a replacement of an existing video's.

An upload created with the tus metadata ``video_id`` replaces the source of that (existing)
video: same id, same URLs. Its bytes go to their own key (``storage.keys.source_key(vid,
upload_id)``), beside the source the published rev was made from, so nothing viewers play
changes until the new version is transcoded and published in one state change
(``processing.ladder_job``); the superseded source is then removed by a ``cleanup`` job.
"""

from __future__ import annotations

import base64
import binascii

from reelstream.db.models import Upload
from reelstream.storage.keys import source_key

REPLACES = "video_id"  # the tus metadata key naming the video whose source an upload replaces


def replaces(upload: Upload) -> str | None:
    """The video whose source ``upload`` replaces, if it is a replacement (the row keeps the
    metadata as sent: base64 values, checked at creation)."""
    value = (upload.metadata_ or {}).get(REPLACES)
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("ascii") or None
    except (binascii.Error, UnicodeDecodeError):
        return None


def upload_source_key(upload: Upload) -> str:
    """The key ``upload``'s bytes are stored under once complete."""
    return source_key(upload.video_id, upload.id if replaces(upload) else None)
