"""Media errors: what can go wrong with a video's media (probing, encoding, captions).

    ReelstreamError
    └── MediaError                     something went wrong with a video's media
        ├── InvalidMedia               the source is not acceptable (permanent: no retry);
        │                              the message is the reason shown to the uploader
        ├── TranscodeError             producing the outputs failed (``retryable`` says whether
        │   │                          another attempt may succeed)
        │   ├── FFmpegFailed           ffmpeg exited non-zero or was killed; permanent or not
        │   │                          by its exit status; carries the tail of its stderr
        │   └── FFmpegTimeout          ffmpeg ran past its timeout and was killed (retried)
        └── InvalidCaption             a caption upload that cannot be used (422)
            ├── CaptionTooLarge        ... because it is over the size limit (413)
            └── UnsupportedCaptionType ... because of its content type (415)

Whether a failure is permanent is decided from what is known about the input, never by matching
ffmpeg's stderr text: the probe refuses what it can (``InvalidMedia``), and ffmpeg's exit status
says whether the same input would fail again (an invalid argument or invalid data: permanent) or
the machine was at fault (memory, disk, a killed process, a timeout: retried).

Messages are meant for people: ffmpeg's own text (memory addresses like ``0x55…``, stream
labels, the server's folders) never reaches one; it stays in ``stderr_tail`` for the log.
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class MediaError(ReelstreamError):
    code = "media_error"


class InvalidMedia(MediaError):
    """The uploaded file cannot be accepted. ``message`` is human-readable."""

    code = "invalid_media"


class TranscodeError(MediaError):
    """``message`` is the whole sentence; ``reason`` what went wrong, to put after a subject
    ("the 720p rendition failed to encode: {reason}")."""

    code = "transcode_failed"

    def __init__(self, message: str, *, retryable: bool = True, reason: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.reason = reason or message


COULD_NOT_ENCODE = "the video could not be encoded"

# ffmpeg (7.1 and later) exits with the low byte of its error code, AVERROR(e) = -e, so the
# exit status says what went wrong: -22 (EINVAL) exits with 234, the tagged errors with the
# complement of their first letter ("INDA", invalid data: 183; "EXT " and "EOF ": 187; the
# 0xF8 "... not found" family: 8), too many undecodable frames with 69. Those that the same
# input meets again are permanent; what depends on the machine (memory, disk, I/O, a missing
# work file) is retried, and so is any status not listed (older builds exit with 1 whatever
# the error, and so does an encoder that simply crashed).
_CONVERT = "its picture, timing or streams cannot be converted"
_CORRUPT = "its data is invalid or corrupt"
_UNSUPPORTED = "it uses a codec or feature that is not supported"
_EXIT_STATUS: dict[int, tuple[str, bool]] = {
    256 - 22: (_CONVERT, False),  # EINVAL
    256 - ord("I"): (_CORRUPT, False),  # AVERROR_INVALIDDATA
    69: (_CORRUPT, False),  # the decode error rate exceeded -max_error_rate
    256 - ord("E"): (_CONVERT, False),  # AVERROR_EXTERNAL (libx264 refused), AVERROR_EOF
    256 - 0xF8: (_UNSUPPORTED, False),  # AVERROR_{DECODER,ENCODER,FILTER,...}_NOT_FOUND
    256 - ord("P"): (_UNSUPPORTED, False),  # AVERROR_PATCHWELCOME
    256 - 38: (_UNSUPPORTED, False),  # ENOSYS
    256 - 33: (_CONVERT, False),  # EDOM
    256 - 34: (_CONVERT, False),  # ERANGE
    256 - 12: ("the server ran out of memory", True),  # ENOMEM
    256 - 28: ("the server ran out of disk space", True),  # ENOSPC
    256 - 5: ("the server could not read or write a file", True),  # EIO
    256 - 2: ("a working file was missing", True),  # ENOENT
    256 - 13: ("a working file could not be opened", True),  # EACCES
    256 - 11: ("the encoder was interrupted", True),  # EAGAIN
}


def exit_status_reason(returncode: int) -> tuple[str, bool]:
    """What an ffmpeg exit status means, in words, and whether another attempt may succeed."""
    if returncode < 0:
        return f"the encoder was stopped (signal {-returncode})", True
    return _EXIT_STATUS.get(returncode, (f"the encoder failed (exit status {returncode})", True))


class FFmpegFailed(TranscodeError):
    """ffmpeg exited non-zero. ``message`` is a sentence for people, from the exit status
    alone (``reason`` is its part after the colon); ``stderr_tail`` is ffmpeg's own text, for
    the server log only: it names memory addresses and the server's folders."""

    code = "ffmpeg_failed"

    def __init__(self, returncode: int, stderr_tail: str, *, retryable: bool | None = None) -> None:
        reason, transient = exit_status_reason(returncode)
        super().__init__(
            f"{COULD_NOT_ENCODE}: {reason}",
            retryable=transient if retryable is None else retryable,
            reason=reason,
        )
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class FFmpegTimeout(TranscodeError):
    code = "ffmpeg_timeout"

    def __init__(self, timeout_s: float, stderr_tail: str = "") -> None:
        reason = f"encoding did not finish within {timeout_s:g} s and was stopped"
        super().__init__(f"{COULD_NOT_ENCODE}: {reason}", reason=reason)
        self.timeout_s = timeout_s
        self.stderr_tail = stderr_tail


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
