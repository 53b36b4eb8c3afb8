"""A small async tus 1.0.0 client (creation, HEAD, PATCH) that can cut a PATCH mid-body.

Written here rather than reusing ``reelstream.cli.upload`` (tuspy, synchronous): the harness runs
many uploads on one event loop, and it must drop a connection at a chosen byte to exercise the
server's resume path, which no client library offers. A cut PATCH declares the whole chunk's
Content-Length, sends part of it and then aborts the request, so the server sees a client that
vanished mid-body, as after a network drop.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = "application/offset+octet-stream"
PIECE = 16 * 1024


class CutConnection(Exception):
    """Raised inside the request body to drop the connection on purpose."""


class TusError(Exception):
    def __init__(self, what: str, status: int, text: str = "") -> None:
        super().__init__(f"{what}: HTTP {status} {text[:200]}")
        self.status = status


def encode_metadata(metadata: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())


async def create(
    http: httpx.AsyncClient, endpoint: str, size: int, metadata: dict[str, str]
) -> httpx.Response:
    """POST the creation request (no body); the caller reads Location and Video-Id."""
    headers = {**TUS, "Upload-Length": str(size), "Upload-Metadata": encode_metadata(metadata)}
    return await http.post(endpoint, headers=headers)


async def head(http: httpx.AsyncClient, url: str) -> httpx.Response:
    return await http.head(url, headers=TUS)


async def _cut_body(data: bytes, cut_at: int) -> AsyncIterator[bytes]:
    for i in range(0, cut_at, PIECE):
        yield data[i : min(i + PIECE, cut_at)]
    raise CutConnection(f"connection dropped after {cut_at} of {len(data)} bytes")


async def patch(
    http: httpx.AsyncClient, url: str, offset: int, data: bytes, *, cut_at: int | None = None
) -> httpx.Response:
    """PATCH ``data`` at ``offset``; with ``cut_at``, send that many bytes and drop the
    connection (raises ``CutConnection``)."""
    headers = {
        **TUS,
        "Upload-Offset": str(offset),
        "Content-Type": OFFSET_TYPE,
        "Content-Length": str(len(data)),
    }
    if cut_at is None:
        return await http.patch(url, headers=headers, content=data)
    try:
        return await http.patch(url, headers=headers, content=_cut_body(data, cut_at))
    except CutConnection:
        raise
    except httpx.HTTPError as exc:  # httpx may wrap what the body raised
        if isinstance(exc.__cause__, CutConnection) or isinstance(exc.__context__, CutConnection):
            raise CutConnection(str(exc)) from exc
        raise
