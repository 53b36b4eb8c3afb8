"""Media errors: what can go wrong with a video's media (probing, encoding, captions).

    ReelstreamError
    └── MediaError                     something went wrong with a video's media
        ├── InvalidMedia               the source is not acceptable (permanent: no retry);
        │                              the message is the reason shown to the uploader
        ├── TranscodeError             producing the outputs failed (``retryable`` says whether
        │   │                          another attempt may succeed)
        │   ├── FFmpegFailed           ffmpeg exited non-zero or was killed; carries the
        │   │                          tail of its stderr
        │   └── FFmpegTimeout          ffmpeg ran past its timeout and was killed
        └── InvalidCaption             a caption upload that cannot be used (422)
            ├── CaptionTooLarge        ... because it is over the size limit (413)
            └── UnsupportedCaptionType ... because of its content type (415)

Whether a failure is permanent is decided from what the probe learned about the input, never by
matching ffmpeg's stderr text: a source that passed validation and still fails to encode is
retried (the cause is usually the machine: memory, disk, a killed process).
"""

from __future__ import annotations

import re

from reelstream.errors import ReelstreamError


class MediaError(ReelstreamError):
    code = "media_error"


class InvalidMedia(MediaError):
    """The uploaded file cannot be accepted. ``message`` is human-readable."""

    code = "invalid_media"


class TranscodeError(MediaError):
    code = "transcode_failed"

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class FFmpegFailed(TranscodeError):
    code = "ffmpeg_failed"

    def __init__(self, returncode: int, stderr_tail: str, *, retryable: bool = True) -> None:
        last = _last_line(stderr_tail)
        if returncode < 0:
            what = f"ffmpeg was killed by signal {-returncode}"
        else:
            what = f"ffmpeg exited with code {returncode}"
        super().__init__(f"{what}: {last}" if last else what, retryable=retryable)
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class FFmpegTimeout(TranscodeError):
    code = "ffmpeg_timeout"

    def __init__(self, timeout_s: float, stderr_tail: str = "") -> None:
        super().__init__(f"ffmpeg did not finish within {timeout_s:g} s and was stopped")
        self.timeout_s = timeout_s
        self.stderr_tail = stderr_tail


_PATH = re.compile(r"(?:/[^/\s:'\"]+)+/([^/\s:'\"]+)")


def _last_line(text: str) -> str:
    """The last line of ffmpeg's stderr, for people: absolute paths (the server's folders)
    are cut down to their file name, so a reason never tells where the server keeps things."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return _PATH.sub(r"\1", lines[-1])[:300] if lines else ""


class InvalidCaption(MediaError):
    """A caption file that cannot be published (not UTF-8, not WebVTT/SRT, bad timestamps,
    no cues); ``message`` says where and why."""

    code = "invalid_caption"
    status = 422


class CaptionTooLarge(InvalidCaption):
    code = "caption_too_large"
    status = 413


class UnsupportedCaptionType(InvalidCaption):
    """The request body is neither a caption file nor a multipart form carrying one."""

    code = "unsupported_caption_type"
    status = 415
