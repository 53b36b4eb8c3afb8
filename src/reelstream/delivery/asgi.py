"""The origin's media handler as a plain ASGI app: every ``/media/...`` request, no framework.

The app (``reelstream.app.ReelstreamApp``) hands every HTTP request whose path starts with
``/media/`` to this handler before FastAPI sees it, for the roles that serve media (``all``,
``origin``). Before FastAPI's own ``__call__``, not as a middleware: measured in-process,
FastAPI's entry (its per-request telemetry switch) and its built-in outer middlewares cost
~7 µs per request, a third of what this handler spends on a 190 KB segment.
A segment request is a token check, a stat and a file send; FastAPI's routing, dependency
injection, middleware stack and ``FileResponse`` (chunks read in worker threads) cost ten
times the send itself, so this handler does only what the answer needs. The behaviour is the
one documented in ``reelstream.delivery.routes`` (which keeps the operations in the OpenAPI
document); the status and header decisions are ``reelstream.delivery.responses.decide``.

How a local-disk blob is sent (``BlobStore.local_path`` is not None):

* the local store's ``stat`` is one ``os.stat`` in the event loop (microseconds: the inode is
  cached), no thread hop;
* the headers of a given blob version (``BlobInfo``: size, etag, mtime) are built once and
  kept in a bounded map, so a hot segment costs a dict lookup;
* a body of at most ``READ_IN_LOOP_MAX`` bytes is read with one ``pread`` in the event loop
  and sent as one ``http.response.body``; a larger one (a top-rung segment, a source-quality
  file) in ``CHUNK``-sized pieces, each read in the loop and sent with ``more_body``, so the
  server's flow control (it waits for the socket to drain between pieces) bounds the memory
  of a slow client to about one piece.

Why in the loop and not in a worker thread: measured on uvicorn + uvloop + httptools, 32
connections, server pinned to one CPU (``benchmarks/origin_probe.py``), a 397 KB segment cost
~160 µs of server CPU per request read in the loop and ~260 µs read in a thread (the hop costs
more than copying 400 KB out of the page cache), and p99 was lower in the loop (~50 ms against
~140 ms on a busy machine); a 4 MB file cost ~1.4 ms per request in 1 MiB pieces read in the
loop, ~2 ms in a thread. The price: a read that misses the page cache blocks the loop for the
disk's latency, at most one ``CHUNK`` at a time. The server offers no ``pathsend`` (uvicorn);
with Granian, pathsend measured slower than one body here.

Other stores (S3, memory) keep the streamed body of
``responses.blob_response``. Errors are the same JSON bodies as the API's, with CORS and
``Cache-Control: no-store``. Requests are counted in ``reelstream_http_*`` under the route
templates FastAPI used to report, with the label children resolved once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from email.utils import formatdate
from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from reelstream.auth.errors import TokenMissing
from reelstream.auth.verdicts import VerdictCache
from reelstream.delivery import media
from reelstream.delivery.responses import (
    ByteRange,
    NotModified,
    Unsatisfiable,
    blob_response,
    decide,
)
from reelstream.errors import ReelstreamError
from reelstream.http.errors import error_response
from reelstream.observability.metrics import Metrics
from reelstream.storage.base import BlobInfo, BlobStore
from reelstream.storage.errors import BlobNotFound, StorageError
from reelstream.storage.keys import rev_prefix

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)

PREFIX = "/media/"
SERVE_ROUTE = "/media/{video_id}/{rev}/{token}/{path:path}"
"""The route templates of the metrics labels (the ones FastAPI reported before)."""
OTHER_ROUTE = "/media/{rest:path}"

READ_IN_LOOP_MAX = 1024 * 1024
"""Bodies up to this size are read in one call in the event loop (see the module docstring)."""
CHUNK = 1024 * 1024
"""Larger bodies are read and sent in pieces of this size."""
PREPARED_MAX = 4096
"""Files whose response headers are kept (a few hundred bytes each)."""
KEYS_MAX = 16_384
"""Valid locations remembered, so a hot segment's path is checked once."""

CORS_HEADERS = {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "Content-Length, Content-Range, Accept-Ranges, ETag",
}
PREFLIGHT_HEADERS = {
    **CORS_HEADERS,
    "access-control-allow-methods": "GET, HEAD, OPTIONS",
    "access-control-allow-headers": "Range, If-None-Match, If-Modified-Since, If-Range",
    "access-control-max-age": "86400",
}
_CORS_RAW = [(k.encode(), v.encode()) for k, v in CORS_HEADERS.items()]
_PREFLIGHT_RAW = [(k.encode(), v.encode()) for k, v in PREFLIGHT_HEADERS.items()]
_CONDITIONAL = frozenset({b"range", b"if-range", b"if-none-match", b"if-modified-since"})
_READ = frozenset({"GET", "HEAD"})


def route_path(scope: Scope) -> str:
    """The path the routes see: ``scope["path"]`` without the ``root_path`` (as Starlette)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


def is_media_request(scope: Scope) -> bool:
    return scope["type"] == "http" and route_path(scope).startswith(PREFIX)


class _Prepared:
    """One version of one local file: where it is and the headers of its responses."""

    __slots__ = ("cache_control", "content_type", "etag", "full", "info", "last_modified", "path")

    def __init__(self, path: str, info: BlobInfo, content_type: str, cache_control: str) -> None:
        self.path = path
        self.info = info
        self.etag = f'"{info.etag}"'
        self.last_modified = formatdate(info.mtime, usegmt=True)
        self.content_type = content_type.encode()
        self.cache_control = cache_control.encode()
        self.full = self.headers(str(info.size).encode(), True)

    def headers(self, length: bytes | None, body: bool) -> list[tuple[bytes, bytes]]:
        """The validators, cache policy and CORS; with the content headers when ``body``."""
        out = [
            (b"etag", self.etag.encode()),
            (b"last-modified", self.last_modified.encode()),
            (b"cache-control", self.cache_control),
            (b"accept-ranges", b"bytes"),
            *_CORS_RAW,
        ]
        if body:
            out += [(b"content-type", self.content_type), (b"content-length", length or b"0")]
        return out


class MediaApp:
    """``GET|HEAD|OPTIONS /media/...`` (see ``reelstream.delivery.routes`` for the contract).

    ``metrics``: count each request in ``reelstream_http_*`` (None when something in front,
    such as ``MetricsMiddleware``, counts it already)."""

    def __init__(self, services: Services, metrics: Metrics | None = None) -> None:
        self.store: BlobStore = services.store
        self.verdicts = VerdictCache(services.signer)
        self.metrics = metrics
        self._keys: dict[tuple[str, str, str], str] = {}
        """Locations found valid (video id, rev, path) and their storage keys."""
        self._prepared: dict[str, _Prepared] = {}
        """Storage key -> the last version of the file served and its headers."""
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        rest = route_path(scope)[len(PREFIX) :]
        parts = rest.split("/", 3)
        serve_shape = len(parts) == 4 and all(parts[:3])
        # the templates FastAPI matched: OPTIONS and other URLs went to the catch-all routes
        route = SERVE_ROUTE if serve_shape and method != "OPTIONS" else OTHER_ROUTE
        status = 500
        try:
            if method == "OPTIONS":
                status = await _preflight(send)
            elif method not in _READ:
                status = await _method_not_allowed(scope, receive, send)
            elif serve_shape:
                video_id, rev, token, path = parts
                status = await self._serve(scope, receive, send, method, video_id, rev, token, path)
            else:
                status = await _fallback(scope, receive, send, rest)
        except Exception:
            log.exception("unhandled error on %s %s", method, scope["path"])
            # the JSON 500 of the API, unless the response has begun (then the server closes
            # the connection)
            with contextlib.suppress(Exception):
                await _respond(scope, receive, send, _internal_error())
            raise
        finally:
            if self.metrics is not None:
                self._count(method, route, status, started)

    def _count(self, method: str, route: str, status: int, started: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            assert self.metrics is not None
            if len(self._children) > 256:  # methods are client-chosen: stay bounded
                self._children.clear()
            children = (
                self.metrics.http_requests.labels(method, route, str(status)),
                self.metrics.http_latency.labels(method, route),
            )
            self._children[key] = children
        counter, histogram = children
        counter.inc()
        histogram.observe(time.perf_counter() - started)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        video_id: str,
        rev: str,
        token: str,
        path: str,
        retry: bool = True,
    ) -> int:
        location = (video_id, rev, path)
        key = self._keys.get(location)
        if key is None:
            if not media.is_valid_location(video_id, rev, path):
                return await _error(scope, receive, send, BlobNotFound("no such media file"))
            key = f"{rev_prefix(video_id, rev)}/{path}"
            if len(self._keys) >= KEYS_MAX:
                self._keys.clear()
            self._keys[location] = key
        try:
            self.verdicts.verify(token, video_id)
            info = await self.store.stat(key)
        except ReelstreamError as exc:
            return await _error(scope, receive, send, exc)
        prepared = self._prepared.get(key)
        if prepared is None or (prepared.info is not info and prepared.info != info):
            local = self.store.local_path(key)
            if local is None:
                return await self._serve_remote(scope, receive, send, method, path, info)
            prepared = self._prepare(str(local), info, path)
        request: dict[str, str] | None = None
        for name, value in scope["headers"]:
            if name in _CONDITIONAL:
                request = request or {}
                request.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        sent: int | None
        if request is None:  # the common case: the whole file
            sent = await self._send_file(
                scope, send, method, prepared, 200, prepared.full, 0, info.size
            )
        else:
            sent = await self._send_decided(scope, receive, send, method, prepared, request)
        if sent is None:  # the file changed between the stat and the open: once more
            self._prepared.pop(key, None)
            if retry:
                args = (method, video_id, rev, token, path, False)
                return await self._serve(scope, receive, send, *args)
            return await _error(scope, receive, send, StorageError("the file keeps changing"))
        return sent

    async def _send_decided(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        method: str,
        prepared: _Prepared,
        request: dict[str, str],
    ) -> int | None:
        """A request with a conditional or range header: 304, 416, 206 or 200."""
        info = prepared.info
        chosen = decide(request, prepared.etag, prepared.last_modified, info.mtime, info.size)
        if isinstance(chosen, NotModified):
            headers = prepared.headers(None, False)
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return 304
        if isinstance(chosen, Unsatisfiable):
            return await _respond(scope, receive, send, _unsatisfiable(info.size))
        if chosen is None:
            return await self._send_file(
                scope, send, method, prepared, 200, prepared.full, 0, info.size
            )
        return await self._send_range(scope, send, method, prepared, chosen)

    async def _send_range(
        self, scope: Scope, send: Send, method: str, prepared: _Prepared, chosen: ByteRange
    ) -> int | None:
        headers = prepared.headers(str(chosen.length).encode(), True)
        headers.append((b"content-range", chosen.content_range.encode()))
        return await self._send_file(
            scope, send, method, prepared, 206, headers, chosen.start, chosen.length
        )

    def _prepare(self, local: str, info: BlobInfo, path: str) -> _Prepared:
        body = None
        if media.is_manifest(path) and info.size <= media.GROWING_SNIFF_BYTES:
            try:
                with open(local, "rb") as fh:  # small; read once per version of the file
                    body = fh.read()
            except OSError:
                body = None
        policy = media.cache_control(path, body)
        prepared = _Prepared(local, info, media.content_type(path), policy)
        table = self._prepared
        if len(table) >= PREPARED_MAX:
            for old in list(table)[: PREPARED_MAX // 8]:
                del table[old]
        table[info.key] = prepared
        return prepared

    async def _send_file(
        self,
        scope: Scope,
        send: Send,
        method: str,
        prepared: _Prepared,
        status: int,
        headers: list[tuple[bytes, bytes]],
        start: int,
        length: int,
    ) -> int | None:
        """Send the response; None, sending nothing, when the file on disk is no longer the
        version ``prepared`` describes (replaced since the stat)."""
        if method == "HEAD" or length == 0:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return status
        try:
            fd = os.open(prepared.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # deleted since the stat: as if never there
            return await _error(scope, _no_receive, send, BlobNotFound("no such media file"))
        try:
            st = os.fstat(fd)
            info = prepared.info
            if st.st_size != info.size or st.st_mtime != info.mtime:
                return None
            if length <= READ_IN_LOOP_MAX:
                body = _read_exactly(fd, start, length)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return status
            await send({"type": "http.response.start", "status": status, "headers": headers})
            offset, remaining = start, length
            while remaining > 0:
                n = min(CHUNK, remaining)
                chunk = _read_exactly(fd, offset, n)
                offset, remaining = offset + n, remaining - n
                more = remaining > 0
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
        finally:
            os.close(fd)
        return status

    async def _serve_remote(
        self, scope: Scope, receive: Receive, send: Send, method: str, path: str, info: BlobInfo
    ) -> int:
        """A store without local files: the streamed body (a manifest read first, to tell
        whether it still grows)."""
        body = None
        if media.is_manifest(path) and info.size <= media.GROWING_SNIFF_BYTES:
            try:
                body = await self.store.get_bytes(info.key)
            except StorageError:
                body = None
        response = blob_response(
            method=method,
            request_headers=Headers(scope=scope),
            store=self.store,
            info=info,
            media_type=media.content_type(path),
            cache_control=media.cache_control(path, body),
            extra_headers=CORS_HEADERS,
        )
        return await _respond(scope, receive, send, response)


def _read_exactly(fd: int, start: int, length: int) -> bytes:
    """``length`` bytes at ``start`` (a file shorter than its stat said: a short body, which
    the server reports as an incomplete response rather than sending other bytes)."""
    data = os.pread(fd, length, start)
    if len(data) == length:
        return data
    parts = [data]
    got = len(data)
    while got < length:
        more = os.pread(fd, length - got, start + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


async def _respond(scope: Scope, receive: Receive, send: Send, response: Response) -> int:
    await response(scope, receive, send)
    return response.status_code


def _internal_error() -> Response:
    return error_response(500, "internal_error", "internal server error")


def _unsatisfiable(size: int) -> Response:
    return error_response(
        416,
        "range_not_satisfiable",
        f"the requested range is outside the {size} bytes of this file",
        {**CORS_HEADERS, "content-range": f"bytes */{size}"},
    )


async def _error(scope: Scope, receive: Receive, send: Send, exc: ReelstreamError) -> int:
    """The JSON error: its ``client_message``, so no storage key or folder is echoed."""
    if exc.status >= 500:
        log.error("media: %s", exc)
    headers = {**CORS_HEADERS, "cache-control": "no-store"}
    return await _respond(
        scope, receive, send, error_response(exc.status, exc.code, exc.client_message, headers)
    )


async def _fallback(scope: Scope, receive: Receive, send: Send, rest: str) -> int:
    """Any other ``/media`` URL: 403 when only the token segment is missing, else 404."""
    video_id, _, tail = rest.partition("/")
    rev, _, path = tail.partition("/")
    if media.is_valid_location(video_id, rev, path):
        exc: ReelstreamError = TokenMissing("a signed playback token is required in the URL")
    else:
        exc = BlobNotFound("no such media file")
    return await _error(scope, receive, send, exc)


async def _preflight(send: Send) -> int:
    """CORS preflight for players on other origins (for example a Range request)."""
    await send({"type": "http.response.start", "status": 204, "headers": _PREFLIGHT_RAW})
    await send({"type": "http.response.body", "body": b""})
    return 204


async def _method_not_allowed(scope: Scope, receive: Receive, send: Send) -> int:
    response = error_response(
        405, "method_not_allowed", "Method Not Allowed", {"allow": "GET, HEAD, OPTIONS"}
    )
    return await _respond(scope, receive, send, response)
