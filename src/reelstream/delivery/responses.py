"""Conditional and range responses for one blob (RFC 9110 sections 13 and 14).

Every decision is taken here, before a byte is sent, from the blob's ``BlobInfo``:

* ``If-None-Match`` (weak comparison, ``*`` allowed) matching the ETag: ``304`` with the
  validators and ``Cache-Control`` but no body. Without ``If-None-Match``, ``If-Modified-Since``
  is honoured the same way.
* ``Range: bytes=a-b | a- | -n``: ``206`` with ``Content-Range``. A range that starts at or past
  the end (or ``-0``, or any range of an empty blob): ``416`` with ``Content-Range: bytes */size``.
* A malformed ``Range`` header, or another unit than ``bytes``, is ignored: ``200`` with the whole
  blob, as RFC 9110 section 14.2 allows.
* Several ranges (``bytes=0-1,5-9``) are answered with ``200`` and the whole blob. Players ask
  for one range at a time; a multipart body would only add a slow path nobody uses.
* ``If-Range`` that does not match the current ETag (strong comparison) or ``Last-Modified``:
  the range is ignored and the whole blob is sent, so a client never splices two versions.
* ``HEAD`` gets the headers of the matching ``GET`` and no body.

Bytes then leave in one of two ways. When the store has the blob on local disk,
``starlette.responses.FileResponse`` sends the file (the ASGI ``pathsend`` extension, where the
server offers it, makes a full response zero-copy); it is handed exactly the range decided here,
so its own Range parsing (which answers a malformed header with 400) never sees the client's
header. Otherwise the blob is streamed from ``BlobStore.iter_range`` with an exact
``Content-Length``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from reelstream.http.errors import error_response
from reelstream.storage.base import BlobInfo, BlobStore


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` .. ``end`` inclusive of a blob of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class Unsatisfiable:
    """The single range requested lies wholly outside the blob."""


UNSATISFIABLE = Unsatisfiable()

_SPEC = re.compile(r"^[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*$")


def parse_range(header: str | None, size: int) -> ByteRange | Unsatisfiable | None:
    """The range to send, ``UNSATISFIABLE``, or None for the whole blob (no, malformed, or
    multiple ranges)."""
    if header is None:
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    m = _SPEC.fullmatch(spec)
    if m is None:
        return None
    first, last = m.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            return UNSATISFIABLE
        return ByteRange(max(0, size - n), size - 1, size)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # an invalid range-spec makes the header malformed: ignore it
    if start >= size:
        return UNSATISFIABLE
    return ByteRange(start, min(end, size - 1), size)


def _etag_values(header: str) -> list[str]:
    return [v.strip() for v in header.split(",") if v.strip()]


def _weak_match(header: str, etag: str) -> bool:
    values = _etag_values(header)
    return "*" in values or any(v.removeprefix("W/") == etag for v in values)


def _not_modified(request: Mapping[str, str], etag: str, mtime: float) -> bool:
    inm = request.get("if-none-match")
    if inm is not None:
        return _weak_match(inm, etag)
    ims = request.get("if-modified-since")
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return int(mtime) <= since.timestamp()


def _range_applies(request: Mapping[str, str], etag: str, last_modified: str) -> bool:
    if_range = request.get("if-range")
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith("W/"):
        return False  # If-Range needs a strong validator
    return if_range in (etag, last_modified)


class NotModified:
    """The client's copy is current: ``304``."""


NOT_MODIFIED = NotModified()

Decision = NotModified | Unsatisfiable | ByteRange | None
"""``304``, ``416``, ``206`` with that range, or ``200`` with the whole blob (None)."""


def decide(
    request: Mapping[str, str], etag: str, last_modified: str, mtime: float, size: int
) -> Decision:
    """What to answer, from the request's conditional and range headers (lowercase names;
    the first value of each) and the blob's quoted ``etag``, ``Last-Modified``, mtime, size."""
    if _not_modified(request, etag, mtime):
        return NOT_MODIFIED
    if _range_applies(request, etag, last_modified):
        return parse_range(request.get("range"), size)
    return None


class _ExactFileResponse(FileResponse):
    """A ``FileResponse`` that sends exactly the range decided by ``blob_response``.

    Starlette reads ``Range``/``If-Range`` from the request scope itself; here it sees a scope
    without them, or with the one canonical range chosen already, so every status and header
    decision stays in this module.
    """

    def __init__(
        self, path: Path, *, headers: dict[str, str], media_type: str, byte_range: ByteRange | None
    ) -> None:
        super().__init__(path, headers=headers, media_type=media_type)
        self.byte_range = byte_range

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(k, v) for k, v in scope["headers"] if k not in (b"range", b"if-range")]
        if self.byte_range is not None:
            r = self.byte_range
            raw.append((b"range", f"bytes={r.start}-{r.end}".encode("latin-1")))
        await super().__call__({**scope, "headers": raw}, receive, send)


def blob_response(
    *,
    method: str,
    request_headers: Headers,
    store: BlobStore,
    info: BlobInfo,
    media_type: str,
    cache_control: str,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """The response for a GET or HEAD of the blob described by ``info``."""
    etag = f'"{info.etag}"'
    last_modified = formatdate(info.mtime, usegmt=True)
    headers = {
        "etag": etag,
        "last-modified": last_modified,
        "cache-control": cache_control,
        "accept-ranges": "bytes",
        **(extra_headers or {}),
    }
    chosen = decide(request_headers, etag, last_modified, info.mtime, info.size)
    if isinstance(chosen, NotModified):
        return Response(status_code=304, headers=headers)
    if isinstance(chosen, Unsatisfiable):
        return error_response(
            416,
            "range_not_satisfiable",
            f"the requested range is outside the {info.size} bytes of this file",
            {**(extra_headers or {}), "content-range": f"bytes */{info.size}"},
        )

    local = store.local_path(info.key)
    if local is not None:
        return _ExactFileResponse(local, headers=headers, media_type=media_type, byte_range=chosen)

    status = 200
    start, end, length = 0, info.size - 1, info.size
    if chosen is not None:
        status, start, end, length = 206, chosen.start, chosen.end, chosen.length
        headers["content-range"] = chosen.content_range
    headers["content-length"] = str(length)
    if method == "HEAD" or length == 0:
        return Response(status_code=status, headers=headers, media_type=media_type)
    return StreamingResponse(
        store.iter_range(info.key, start, end),
        status_code=status,
        headers=headers,
        media_type=media_type,
    )
