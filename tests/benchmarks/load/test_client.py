"""``timed`` records a 5xx's Retry-After and a request that timed out as hung."""

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
