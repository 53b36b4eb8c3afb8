"""uvicorn's access log: off unless ``REELSTREAM_ACCESS_LOG`` turns it on (it costs more CPU
per request than sending a segment; requests are counted in ``/metrics`` either way)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support import run_server

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("on", [False, True])
def test_access_log_only_when_asked(tmp_path: Path, on: bool) -> None:
    settings = {"access_log": "true"} if on else {}
    with run_server(tmp_path / "data", **settings) as server:
        assert httpx.get(f"{server.base_url}/api/v1/videos?limit=7", timeout=10).status_code == 200
        metrics = httpx.get(f"{server.base_url}/metrics", timeout=10).text
        logged = "GET /api/v1/videos?limit=7 HTTP/1.1" in server.log()
    assert logged is on
    assert 'route="/api/v1/videos"' in metrics
