"""The two Python anchors of the serving benchmark, run by uvicorn (uvloop + httptools).

* ``file_app``: a bare ASGI app that reads one file (``SERVING_FILE``) and sends it as one body:
  the ceiling of Python file serving on this server, the anchor of the origin's segment GET.
* ``model_app``: a minimal FastAPI route returning a cached pydantic model shaped like a video:
  the ceiling of a FastAPI read, the anchor of the hot API reads.

Written by hand on purpose: each is the least a Python server can do for that request, so the
ratio of reelstream to it is what the project's own layers cost.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

ORIGIN_HEADERS = [
    (b"etag", b'"0123456789abcdef"'),
    (b"last-modified", b"Mon, 30 Nov 2026 17:05:00 GMT"),
    (b"cache-control", b"public, max-age=31536000, immutable"),
    (b"accept-ranges", b"bytes"),
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"Content-Length, Content-Range, Accept-Ranges, ETag"),
]
"""The origin's other response headers, sent too with ``SERVING_HEADERS=origin``."""


async def file_app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = os.environ["SERVING_FILE"]
    # A blocking read on purpose: a 189 KB file from the page cache, the cheapest way there is.
    with open(path, "rb") as fh:  # noqa: ASYNC230
        body = fh.read()
    headers = [(b"content-type", b"video/iso.segment"), (b"content-length", b"%d" % len(body))]
    if os.environ.get("SERVING_HEADERS") == "origin":
        headers += ORIGIN_HEADERS
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Rendition(BaseModel):
    name: str
    width: int
    height: int
    bitrate: int


class Video(BaseModel):
    id: str
    title: str
    status: str
    visibility: str
    duration_s: float
    renditions: list[Rendition]


_VIDEO = Video(
    id="a" * 16,
    title="a video",
    status="ready",
    visibility="public",
    duration_s=12.0,
    renditions=[
        Rendition(name=f"v{h}", width=h * 16 // 9, height=h, bitrate=h * 3000)
        for h in (180, 360, 720, 1080)
    ],
)

model_app = FastAPI()


@model_app.get("/v/{video_id}", response_model=Video)
async def get_video(video_id: str) -> Video:
    return _VIDEO
