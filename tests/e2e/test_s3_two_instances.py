"""Two stateless reelstream processes sharing only a database and an S3 bucket (real Swift):
a tus upload starts on one and finishes on the other; the video plays from either."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.fixtures.s3 import SwiftCluster
from tests.ingest import helpers
from tests.ingest.helpers import metadata
from tests.support import (
    ADMIN_HEADERS,
    make_clip,
    media_duration,
    playlist_uris,
    run_server,
    wait_for_status,
)

TUS = {**helpers.TUS, **ADMIN_HEADERS}


def patch_headers(offset: int) -> dict[str, str]:
    return {**helpers.patch_headers(offset), **ADMIN_HEADERS}


pytestmark = pytest.mark.e2e

PART = 5 * 1024 * 1024


def test_upload_moves_between_instances_and_plays_from_both(
    tmp_path: Path, s3_settings: dict[str, str], swift: SwiftCluster
) -> None:
    # all-intra, near-lossless: ~7 MB, so the upload spans a 5 MiB part plus a last part
    clip = make_clip(tmp_path / "clip.mp4", extra=["-qp", "1", "-g", "1"])
    data = clip.read_bytes()
    assert len(data) > PART
    source_duration = media_duration(str(clip))
    shared = {
        **s3_settings,
        "s3_part_size": PART,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        "signing_keys": f'{{"k1": "{secrets.token_urlsafe(40)}"}}',
    }
    with (
        run_server(tmp_path / "a", embedded_workers="true", **shared) as a,
        run_server(tmp_path / "b", embedded_workers="false", **shared) as b,
    ):
        created = httpx.post(
            f"{a.base_url}/api/v1/uploads",
            headers={
                **TUS,
                "Upload-Length": str(len(data)),
                "Upload-Metadata": metadata(filename="clip.mp4", title="two instances"),
            },
        )
        assert created.status_code == 201, created.text
        path, video_id = created.headers["Location"], created.headers["Video-Id"]
        half = len(data) // 2

        r = httpx.patch(f"{a.base_url}{path}", headers=patch_headers(0), content=data[:half])
        assert r.status_code == 204, r.text
        assert int(r.headers["Upload-Offset"]) == half

        # the other instance knows the offset (no shared disk) and takes the rest
        head = httpx.head(f"{b.base_url}{path}", headers=TUS)
        assert head.status_code == 200 and int(head.headers["Upload-Offset"]) == half
        r = httpx.patch(
            f"{b.base_url}{path}", headers=patch_headers(half), content=data[half:], timeout=60
        )
        assert r.status_code == 204, r.text
        assert int(r.headers["Upload-Offset"]) == len(data)

        # the source is in the bucket, byte for byte; no staging left behind
        s3 = swift.client()
        bucket = s3_settings["s3_bucket"]
        stored = s3.get_object(Bucket=bucket, Key=f"videos/{video_id}/source")["Body"].read()
        assert stored == data
        assert s3.list_objects_v2(Bucket=bucket, Prefix="uploads/")["KeyCount"] == 0
        for server in (a, b):
            assert not (server.data_dir / "storage").exists()

        video = wait_for_status(b.base_url, video_id, {"ready", "failed"})
        assert video["status"] == "ready", f"{video}\n{a.log()}"

        playback = httpx.get(f"{a.base_url}/api/v1/videos/{video_id}/playback")
        assert playback.status_code == 200, playback.text
        signed_path = urlsplit(playback.json()["hls_url"]).path
        master_url = f"{b.base_url}{signed_path}"  # signed by A, served by B
        master = httpx.get(master_url)
        assert master.status_code == 200, master.text
        fetched = 0
        for child in playlist_uris(master.text):
            child_url = urljoin(master_url, child)
            child_resp = httpx.get(child_url)
            assert child_resp.status_code == 200, child_url
            for uri in playlist_uris(child_resp.text):
                seg = httpx.get(urljoin(child_url, uri))
                assert seg.status_code == 200 and seg.content, uri
                fetched += 1
        assert fetched >= 6
        assert abs(media_duration(master_url) - source_duration) < 0.5
