"""The harness end to end against a real ``reelstream serve``: it seeds two generated clips,
then runs 5 s of steady load (viewers, API clients, one upload cut mid-PATCH and resumed) and
writes its JSON report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
from benchmarks.load.__main__ import main

from tests.support import run_server

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(180)
def test_a_short_steady_run_against_a_real_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    with run_server(tmp_path / "data") as server:
        code = main(
            [
                "--base-url", server.base_url,
                "--token", server.token,
                "--seed-videos", "2",
                "--seed-clip-s", "8",
                "--seed-timeout", "120",
                "--duration", "5",
                "--viewer-rate", "2",
                "--max-viewers", "4",
                "--api-rate", "10",
                "--upload-rate", "5",
                "--max-uploads", "1",
                "--interrupt-prob", "1",
                "--chunk-size", "32K",
                "--upload-clip-s", "2",
                "--json-out", str(out),
                "--format", "markdown",
            ]
        )  # fmt: skip
        assert code == 0, capsys.readouterr().err
        report = json.loads(out.read_text())
        for video_id in report["acknowledged_uploads"]:  # kept by the server
            r = httpx.get(f"{server.base_url}/api/v1/videos/{video_id}", headers=server.headers)
            assert r.status_code == 200, r.text
            assert r.json()["status"] in ("queued", "processing", "ready")
        for sent in report["acknowledged_sources"]:  # stored byte for byte as the client sent it
            stored = tmp_path / "data" / "storage" / "videos" / sent["video_id"] / "source"
            assert stored.stat().st_size == sent["size"]
            assert hashlib.sha256(stored.read_bytes()).hexdigest() == sent["sha256"]

    assert [p["phase"] for p in report["phases"]] == ["steady"]
    assert report["catalogue"]["videos"] >= 2
    steady = report["phases"][0]
    viewers = steady["viewers"]
    assert viewers["sessions"] >= 1 and viewers["started"] >= 1
    assert viewers["failed_requests"] == 0
    assert viewers["startup_p50_ms"] is not None
    kinds = steady["requests"]
    for kind in ("viewer.playback", "master", "playlist", "init", "segment"):
        assert kinds[kind]["count"] >= 1 and kinds[kind]["errors"] == {}, kind
    assert steady["api"]["requests"] >= 1
    assert any(kinds[k]["served"] for k in kinds if k.startswith("api."))
    assert steady["origin_fetches"] >= 1  # the embedded server is its own origin
    uploads = steady["uploads"]
    assert uploads["started"] == 1 and uploads["acknowledged"] == 1
    assert uploads["interruptions"] == 1 and uploads["resumes"] >= 1
    assert len(report["acknowledged_uploads"]) == 1
    assert report["failed_uploads"] == []
    assert any("X-Cache-Status" in note for note in report["notes"])  # no edge in front
    assert "### Summary by phase" in capsys.readouterr().out
