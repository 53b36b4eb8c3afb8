"""ffmpeg follows a new video's growing HLS playlists over HTTP, from the moment the video
turns playable (still processing) to their end, and decodes the whole video."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_pipeline import upload_with_tuspy
from tests.support import ADMIN_HEADERS, media_duration, run_server, wait_for_status

pytestmark = pytest.mark.e2e

SOURCE_S = 20.0  # tests.fixtures.clips.processing_clip


def decoded_duration(url: str) -> float:
    """Decode the video of an HLS URL to its end, failing on any decode error. A playlist
    without ENDLIST is live to ffmpeg: it reloads it until ENDLIST, and starts where
    EXT-X-START says (else 3 segments from the end: ``live_start_index``)."""
    return media_duration(url, ("-prefer_x_start", "1"))


@pytest.mark.timeout(240)
def test_ffmpeg_decodes_the_growing_playlist_to_the_end(
    tmp_path: Path, processing_clip: Path
) -> None:
    with run_server(tmp_path / "data") as server:
        api = f"{server.base_url}/api/v1/videos"
        vid = upload_with_tuspy(server.base_url, processing_clip, "growing")
        deadline = time.monotonic() + 120
        while True:
            video = httpx.get(f"{api}/{vid}", headers=ADMIN_HEADERS, timeout=10).json()
            if video["playable"]:
                break
            assert video["status"] in ("queued", "processing"), f"{video}\n{server.log()}"
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        playback = httpx.get(f"{api}/{vid}/playback", headers=ADMIN_HEADERS, timeout=10).json()
        hls_url = playback["hls_url"]
        lead = httpx.get(hls_url.rsplit("/", 1)[0] + "/v240/index.m3u8", timeout=10).text
        # still processing, and the playlist still growing, when ffmpeg starts
        now = httpx.get(f"{api}/{vid}", headers=ADMIN_HEADERS, timeout=10).json()
        assert now["status"] == "processing", now
        assert now["poster_url"] is None  # made with the final publish
        assert playback["dash_url"].endswith("/manifest.mpd")
        assert 'type="dynamic"' in httpx.get(playback["dash_url"], timeout=10).text
        assert "#EXT-X-PLAYLIST-TYPE:EVENT" in lead and "#EXT-X-ENDLIST" not in lead, lead

        assert decoded_duration(hls_url) == pytest.approx(SOURCE_S, abs=0.5)

        video = wait_for_status(server.base_url, vid, {"ready", "failed"}, timeout=120)
        assert video["status"] == "ready", server.log()
