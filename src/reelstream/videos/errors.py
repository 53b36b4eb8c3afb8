"""Video errors.

ReelstreamError
└── VideoError
    ├── VideoNotFound        no such video (or not visible to the caller)
    ├── VideoNotPlayable     the video has no rendition that can be streamed yet
    ├── CaptionNotFound      no caption in that language (404)
    ├── VideoNotReady        captions and posters need a ready video (409)
    ├── InvalidPosterTime    a poster time outside the video (422)
    ├── InvalidTitle         a title that is empty, too long or has control or bidi characters (422)
    └── InvalidDescription   a description too long or with control or bidi characters (422)

A pagination cursor that was not issued by us is ``reelstream.http.pagination.InvalidCursor``
(video and admin listings share it).
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class VideoError(ReelstreamError):
    code = "video_error"


class VideoNotFound(VideoError):
    code = "video_not_found"
    status = 404


class VideoNotPlayable(VideoError):
    code = "video_not_playable"
    status = 409


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


class InvalidTitle(VideoError):
    """A title refused by ``reelstream.videos.titles.check_title``."""

    code = "invalid_title"
    status = 422


class InvalidDescription(VideoError):
    """A description refused by ``reelstream.videos.titles.check_description``."""

    code = "invalid_description"
    status = 422
