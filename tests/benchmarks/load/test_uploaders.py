"""The harness's tus uploader against a scripted server (httpx.MockTransport): a creation the
server sheds or never answers is retried, as tus-js-client does; a refusal is not."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from benchmarks.load.recorder import Recorder, UploadResult
from benchmarks.load.uploaders import upload

DATA = b"x" * 1000


def run(handler: httpx.MockTransport) -> UploadResult:
    async def go() -> UploadResult:
        async with httpx.AsyncClient(transport=handler, timeout=5) as http:
            return await upload(
                http, Recorder(1000), "http://edge", DATA, title="t", chunk_bytes=400,
                interrupt_prob=0.0, rng=random.Random(1),
            )  # fmt: skip

    return asyncio.run(go())


def scripted(creates: list[int | None]) -> tuple[httpx.MockTransport, dict[str, int]]:
    """POST answers ``creates`` in turn (None: the connection drops); PATCHes succeed."""
    state = {"posts": 0, "offset": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            status = creates[min(state["posts"], len(creates) - 1)]
            state["posts"] += 1
            if status is None:
                raise httpx.RemoteProtocolError("server disconnected", request=request)
            headers = {"Location": "/api/v1/uploads/u1", "Video-Id": "v1"}
            return httpx.Response(
                status, headers=headers if status == 201 else {"Retry-After": "1"}
            )
        state["offset"] += len(request.content)
        return httpx.Response(204, headers={"Upload-Offset": str(state["offset"])})

    return httpx.MockTransport(handle), state


@pytest.mark.timeout(30)
def test_a_shed_or_unanswered_creation_is_retried_until_created() -> None:
    transport, state = scripted([503, None, 503, 201])
    result = run(transport)
    assert state["posts"] == 4
    assert result.acknowledged and result.video_id == "v1" and result.error is None


@pytest.mark.timeout(30)
def test_a_refused_creation_is_not_retried() -> None:
    transport, state = scripted([413])
    result = run(transport)
    assert state["posts"] == 1
    assert not result.acknowledged and result.error == "create: 413"
