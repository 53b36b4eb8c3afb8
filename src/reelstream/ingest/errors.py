"""tus upload errors (the HTTP status each maps to is in ``reelstream.http.errors``).

ReelstreamError
└── UploadError
    ├── UploadNotFound          404  no such upload
    ├── UploadExpired           410  the upload passed its Upload-Expires time
    ├── BadTusRequest           400  a missing or malformed tus header, bad metadata
    ├── UnsupportedTusVersion   412  Tus-Resumable is not 1.0.0
    ├── OffsetMismatch          409  Upload-Offset differs from the bytes we hold
    ├── UploadTooLarge          413  beyond the size limit or the declared length
    ├── UnsupportedMediaType    415  PATCH without application/offset+octet-stream
    ├── ChecksumMismatch        460  Upload-Checksum does not match the chunk (discarded)
    ├── UnsupportedChecksum     400  a checksum algorithm we do not offer
    ├── UploadLocked            423  another request is writing to this upload right now
    └── UploadFinished          409  the upload is complete; nothing more can be written

``BodyInterrupted`` is no domain error: the request body iterator raises it when the client
goes away, and staging keeps (or, for a checksummed chunk, drops) what arrived.
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class BodyInterrupted(Exception):
    """The client went away before the request body ended (raised by the body iterator)."""


class UploadError(ReelstreamError):
    code = "upload_error"
    headers: dict[str, str] | None = None


class UploadNotFound(UploadError):
    code = "upload_not_found"
    status = 404


class UploadExpired(UploadError):
    code = "upload_expired"
    status = 410


class BadTusRequest(UploadError):
    code = "bad_tus_request"
    status = 400


class UnsupportedTusVersion(UploadError):
    code = "unsupported_tus_version"
    status = 412
    headers = {"Tus-Version": "1.0.0"}


class OffsetMismatch(UploadError):
    code = "offset_mismatch"
    status = 409


class UploadTooLarge(UploadError):
    code = "upload_too_large"
    status = 413


class UnsupportedMediaType(UploadError):
    code = "unsupported_media_type"
    status = 415


class ChecksumMismatch(UploadError):
    code = "checksum_mismatch"
    status = 460


class UnsupportedChecksum(UploadError):
    code = "unsupported_checksum"
    status = 400


class UploadLocked(UploadError):
    code = "upload_locked"
    status = 423


class UploadFinished(UploadError):
    code = "upload_finished"
    status = 409


class NotReplaceable(UploadError):
    code = "not_replaceable"
    status = 409
