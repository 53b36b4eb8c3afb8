"""``timed`` records a 5xx's Retry-After and a request that timed out as hung, and sends an
idempotent request again when its keep-alive connection closed before any answer."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from benchmarks.load.client import timed
from benchmarks.load.recorder import Recorder


def _handler(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/shed":
        return httpx.Response(503, headers={"Retry-After": "1"})
    if request.url.path == "/bare":
        return httpx.Response(500)
    raise httpx.ReadTimeout("no answer", request=request)


@pytest.mark.timeout(10)
def test_timed_notes_retry_after_and_timeouts() -> None:
    async def go() -> Recorder:
        rec = Recorder(10)
        async with httpx.AsyncClient(transport=httpx.MockTransport(_handler)) as http:
            for path in ("/shed", "/bare", "/slow"):
                await timed(http, rec, "api.get", "GET", f"http://t{path}")
        return rec

    shed, bare, slow = asyncio.run(go()).samples
    assert (shed.status, shed.retry_after, shed.hung) == (503, True, False)
    assert (bare.status, bare.retry_after, bare.hung) == (500, False, False)
    assert (slow.status, slow.error, slow.hung) == (0, "ReadTimeout", True)


def _closing_once() -> tuple[httpx.MockTransport, list[str]]:
    """Each path's first request meets a connection closed before any answer (what an idle
    keep-alive connection closed by an nginx reload looks like), then it is answered."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if seen.count(seen[-1]) == 1:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(200)

    return httpx.MockTransport(handle), seen


@pytest.mark.timeout(10)
def test_an_idempotent_request_on_a_closed_keepalive_connection_is_sent_again() -> None:
    transport, seen = _closing_once()

    async def go() -> tuple[Recorder, httpx.Response | None, httpx.Response | None]:
        rec = Recorder(10)
        async with httpx.AsyncClient(transport=transport) as http:
            got = await timed(http, rec, "segment", "GET", "http://t/seg")
            posted = await timed(http, rec, "upload.create", "POST", "http://t/up")
        return rec, got, posted

    rec, got, posted = asyncio.run(go())
    assert got is not None and got.status_code == 200  # sent again, as a browser does
    assert posted is None  # a POST may have reached the server: never sent again
    assert seen == ["GET /seg", "GET /seg", "POST /up"]
    assert rec.resent == 1
    assert [s.error for s in rec.samples] == [None, "RemoteProtocolError"]
