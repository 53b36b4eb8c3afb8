"""The whole path on real processes: tuspy upload -> transcode -> signed HLS over plain HTTP."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from tusclient import client as tus

from tests.support import (
    ADMIN_HEADERS,
    media_duration,
    playlist_uris,
    run_server,
    wait_for_status,
)

pytestmark = pytest.mark.e2e


def upload_with_tuspy(base_url: str, path: Path, title: str) -> str:
    with path.open("rb") as stream:  # tuspy leaves a file it opened itself unclosed
        uploader = tus.TusClient(
            f"{base_url}/api/v1/uploads", headers=dict(ADMIN_HEADERS)
        ).uploader(
            file_stream=stream,
            chunk_size=512 * 1024,
            metadata={"filename": path.name, "title": title},
        )
        uploader.upload()
    assert uploader.url
    head = httpx.head(uploader.url, headers={"Tus-Resumable": "1.0.0", **ADMIN_HEADERS})
    assert head.status_code == 200, head.text
    assert int(head.headers["Upload-Offset"]) == path.stat().st_size
    return head.headers["Video-Id"]


def test_upload_transcode_and_stream(tmp_path: Path, clip: Path) -> None:
    source_duration = media_duration(str(clip))
    with run_server(tmp_path / "data") as server:
        video_id = upload_with_tuspy(server.base_url, clip, "end to end")
        video = wait_for_status(server.base_url, video_id, {"ready", "failed"})
        assert video["status"] == "ready", video
        assert video["playable"] is True
        assert video["error"] is None
        assert abs(float(video["duration_s"]) - source_duration) < 0.5
        heights = [r["height"] for r in video["renditions"]]
        assert heights == [240, 360], "rungs above the 360p source must be skipped"
        assert all(r["ready"] and r["bandwidth"] > 0 for r in video["renditions"])

        playback = httpx.get(f"{server.base_url}/api/v1/videos/{video_id}/playback").json()
        master_url = playback["hls_url"]
        master = httpx.get(master_url)
        assert master.status_code == 200
        assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        assert "#EXT-X-STREAM-INF" in master.text
        for attr in ("BANDWIDTH=", "AVERAGE-BANDWIDTH=", "RESOLUTION=", "CODECS="):
            assert attr in master.text

        # Every child playlist and every segment it names is reachable as given.
        fetched = 0
        for child in playlist_uris(master.text):
            child_url = urljoin(master_url, child)
            child_resp = httpx.get(child_url)
            assert child_resp.status_code == 200, child_url
            assert "#EXT-X-ENDLIST" in child_resp.text
            for uri in playlist_uris(child_resp.text):
                seg = httpx.get(urljoin(child_url, uri))
                assert seg.status_code == 200, uri
                assert len(seg.content) > 0
                fetched += 1
        assert fetched >= 6

        # A real HLS client (ffmpeg) decodes the whole stream through the signed URL.
        assert abs(media_duration(master_url) - source_duration) < 0.5

        # The URL is bound to this video: without a valid token nothing is served.
        forged = master_url.replace(f"/{video_id}/", "/AAAAAAAAAAAAAAAA/")
        assert httpx.get(forged).status_code in (403, 404)
