"""Processing errors: retrying what failed.

ReelstreamError
└── ProcessingError
    ├── NothingToRetry       a retry of something that has not failed, or while the video
    │                        is being processed (409)
    └── RenditionNotFound    a retry names a rendition the video never had (404)
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class ProcessingError(ReelstreamError):
    code = "processing_error"


class NothingToRetry(ProcessingError):
    code = "nothing_to_retry"
    status = 409


class RenditionNotFound(ProcessingError):
    code = "rendition_not_found"
    status = 404
