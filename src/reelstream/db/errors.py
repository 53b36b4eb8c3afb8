"""Database and video metadata errors.

ReelstreamError
├── DatabaseError
│   └── DatabaseUnavailable  the database (primary, or replica for reads) cannot be reached,
│                            refuses connections, or is read-only; carries ``Retry-After``
└── VideoError
    ├── VideoNotFound        no such video (or not visible to the caller)
    ├── VideoNotPlayable     the video has no rendition that can be streamed yet
    ├── InvalidCursor        a pagination cursor that was not issued by us
    ├── CaptionNotFound      no caption in that language (404)
    ├── VideoNotReady        captions and posters need a ready video (409)
    └── InvalidPosterTime    a poster time outside the video (422)

``Database.transaction()`` and ``Database.read()`` translate driver errors (asyncpg, aiosqlite,
SQLAlchemy, socket errors and timeouts while connecting) into ``DatabaseUnavailable`` at the
boundary, so no caller ever sees a driver exception for an outage.
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError

RETRY_AFTER_S = 5


class DatabaseError(ReelstreamError):
    code = "database_error"


class DatabaseUnavailable(DatabaseError):
    """The database cannot serve this request now; retrying later is expected to work."""

    code = "database_unavailable"
    status = 503

    def __init__(self, message: str, *, retry_after_s: int = RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers for the 503 answer."""
        return {"Retry-After": str(self.retry_after_s)}


class VideoError(ReelstreamError):
    code = "video_error"


class VideoNotFound(VideoError):
    code = "video_not_found"
    status = 404


class VideoNotPlayable(VideoError):
    code = "video_not_playable"
    status = 409


class InvalidCursor(VideoError):
    code = "invalid_cursor"
    status = 400


class CaptionNotFound(VideoError):
    code = "caption_not_found"
    status = 404


class VideoNotReady(VideoError):
    """The operation needs a published (``ready``) video."""

    code = "video_not_ready"
    status = 409


class InvalidPosterTime(VideoError):
    code = "invalid_poster_time"
    status = 422
