"""Video metadata errors.

ReelstreamError
└── VideoError
    ├── VideoNotFound        no such video (or not visible to the caller)
    ├── VideoNotPlayable     the video has no rendition that can be streamed yet
    └── InvalidCursor        a pagination cursor that was not issued by us
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class VideoError(ReelstreamError):
    code = "video_error"


class VideoNotFound(VideoError):
    code = "video_not_found"


class VideoNotPlayable(VideoError):
    code = "video_not_playable"


class InvalidCursor(VideoError):
    code = "invalid_cursor"
