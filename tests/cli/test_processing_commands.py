"""``reelstream timeline`` and ``reelstream retry`` against a real server whose encoder fails
one rendition (real ffmpeg behind ``tests.support.FaultyFFmpeg``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.conftest import tus_upload
from tests.support import ADMIN_TOKEN, FAULTY_REASON, FaultyFFmpeg, run_server, wait_for_status

pytestmark = pytest.mark.e2e


def cli(
    server_url: str, *args: str, token: str | None = ADMIN_TOKEN
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, REELSTREAM_SERVER=server_url, COLUMNS="200")
    env.pop("REELSTREAM_TOKEN", None)
    if token:
        env["REELSTREAM_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "reelstream", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_timeline_shows_a_failed_rendition_and_retry_brings_it_back(
    clip: Path, tmp_path: Path
) -> None:
    faulty = FaultyFFmpeg(tmp_path / "faulty")
    faulty.fail_on("name:v360")
    with run_server(tmp_path / "data", ffmpeg_path=faulty.path) as server:
        vid = tus_upload(server, clip, "cli timeline")
        wait_for_status(server.base_url, vid, {"ready"})

        shown = cli(server.base_url, "timeline", vid)
        assert shown.returncode == 0, shown.stderr
        assert "ready, without 360p" in shown.stdout
        line = next(x for x in shown.stdout.splitlines() if "encode 360p" in x)
        assert "failed" in line and FAULTY_REASON in line
        assert "encode 240p" in shown.stdout
        data = json.loads(cli(server.base_url, "timeline", vid, "--json").stdout)
        assert data["retry"]["renditions"] == ["v360"]

        # nothing to retry for the video as a whole: the server's reason, exit status 1
        whole = cli(server.base_url, "retry", vid)
        assert whole.returncode == 1
        assert "only a failed video can be retried; this one is ready (HTTP 409)" in whole.stderr
        anonymous = cli(server.base_url, "retry", vid, "--rendition", "v360", token=None)
        assert anonymous.returncode == 1 and "HTTP 401" in anonymous.stderr

        faulty.heal()
        retried = cli(server.base_url, "retry", vid, "--rendition", "v360")
        assert retried.returncode == 0, retried.stderr
        assert f"reelstream timeline {vid} --follow" in retried.stdout
        followed = cli(server.base_url, "timeline", vid, "--follow")
        assert followed.returncode == 0, followed.stderr
        final = json.loads(cli(server.base_url, "timeline", vid, "--json").stdout)
        assert {s["state"] for s in final["stages"]} == {"done"}, final
        video = wait_for_status(server.base_url, vid, {"ready"})
        assert [r["height"] for r in video["renditions"]] == [240, 360]
        missing = cli(server.base_url, "timeline", "AAAAAAAAAAAAAAAA")
        assert missing.returncode == 1 and "no video" in missing.stderr
