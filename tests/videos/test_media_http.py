"""A real server: ffmpeg reads the DASH manifest (and the HLS master with a subtitle
rendition) over HTTP and decodes the whole video; the storyboard sprite and a regenerated
poster are served by the origin."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.media.media_checks import check_storyboard
from tests.support import ADMIN_HEADERS, media_duration, run_server, wait_for_status

pytestmark = pytest.mark.e2e


def upload(base_url: str, path: Path) -> str:
    meta = "filename " + base64.b64encode(path.name.encode()).decode()
    data = path.read_bytes()
    r = httpx.post(
        f"{base_url}/api/v1/uploads",
        headers={
            **ADMIN_HEADERS,
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(data)),
            "Upload-Metadata": meta,
            "Content-Type": "application/offset+octet-stream",
        },
        content=data,
        timeout=60,
    )
    assert r.status_code == 201, r.text
    return r.headers["Video-Id"]


def test_ffmpeg_plays_dash_and_hls_with_subtitles_over_http(clip: Path, tmp_path: Path) -> None:
    with run_server(tmp_path / "data") as server:
        base = server.base_url
        vid = upload(base, clip)
        video = wait_for_status(base, vid, {"ready", "failed"}, timeout=300)
        assert video["status"] == "ready", f"{video}\n{server.log()}"
        r = httpx.post(
            f"{base}/api/v1/videos/{vid}/captions",
            params={"lang": "en", "label": "English"},
            content="WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nHello\n",
            headers={"content-type": "text/vtt", **ADMIN_HEADERS},
        )
        assert r.status_code == 201, r.text
        playback = httpx.get(f"{base}/api/v1/videos/{vid}/playback").json()
        expected = media_duration(str(clip))

        assert abs(media_duration(playback["dash_url"]) - expected) <= 0.5
        master = httpx.get(playback["hls_url"]).text
        assert 'TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="en"' in master
        assert abs(media_duration(playback["hls_url"]) - expected) <= 0.5

        video = httpx.get(f"{base}/api/v1/videos/{vid}").json()
        vtt = httpx.get(video["storyboard_url"])
        assert vtt.status_code == 200
        names = {line.split("#")[0] for line in vtt.text.splitlines() if line.startswith("sb_")}
        sheets = {n: httpx.get(urljoin(video["storyboard_url"], n)).content for n in names}
        check_storyboard(vtt.text, sheets, video["duration_s"])

        before = httpx.get(video["poster_url"]).content
        r = httpx.post(
            f"{base}/api/v1/videos/{vid}/poster", json={"at_s": 4.5}, headers=ADMIN_HEADERS
        )
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            video = httpx.get(f"{base}/api/v1/videos/{vid}").json()
            if "/poster-" in video["poster_url"]:
                break
            time.sleep(0.3)
        else:
            pytest.fail(f"the poster was not regenerated: {video}\n{server.log()}")
        after = httpx.get(video["poster_url"])
        assert after.status_code == 200 and after.content != before
        assert video["status"] == "ready"
