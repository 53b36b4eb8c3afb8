"""Replacing a video's source (tus metadata ``video_id``): same id and URLs; the published
version keeps playing until the new one is transcoded, then one publish switches rev, source
and facts; a replacement that fails leaves the video as it was; superseded sources are removed.
The app runs in-process and its jobs run one attempt at a time with real ffmpeg."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from reelstream.db.base import utcnow
from reelstream.db.models import Job
from reelstream.processing.jobs import claim_next, run_job
from reelstream.services import Services
from reelstream.storage.errors import BlobNotFound
from reelstream.videos import repository as videos
from tests.support import bearer, create_account, make_clip

pytestmark = pytest.mark.timeout(240)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def upload(client: TestClient, path: Path, *, video_id: str | None = None, **headers: str) -> Any:
    """One tus creation-with-upload request carrying the whole file."""
    data = path.read_bytes()
    meta = f"filename {_b64(path.name)}"
    if video_id is not None:
        meta += f",video_id {_b64(video_id)}"
    return client.post(
        "/api/v1/uploads",
        content=data,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(data)),
            "Upload-Metadata": meta,
            "Content-Type": "application/offset+octet-stream",
            **headers,
        },
    )


def run_next(client: TestClient, *, kind: str | None = None) -> str:
    services = services_of(client)

    async def run() -> str:
        lease = await claim_next(services, "test:1:0")
        assert lease is not None, "no job was due"
        assert kind is None or lease.kind == kind, (lease.kind, lease.payload)
        return await run_job(services, lease)

    assert client.portal is not None
    return str(client.portal.call(run))


def row(client: TestClient, vid: str) -> Any:
    async def get() -> Any:
        async with services_of(client).db.read(primary=True) as s:
            return await videos.get_video(s, vid)

    assert client.portal is not None
    return client.portal.call(get)


def cleanup_jobs(client: TestClient, vid: str) -> list[Job]:
    async def get() -> list[Job]:
        async with services_of(client).db.read(primary=True) as s:
            rows = await s.execute(
                select(Job).where(Job.video_id == vid, Job.kind == "cleanup").order_by(Job.id)
            )
            return list(rows.scalars())

    assert client.portal is not None
    return client.portal.call(get)


def stored(client: TestClient, key: str) -> bool:
    async def stat() -> bool:
        try:
            await services_of(client).store.stat(key)
        except BlobNotFound:
            return False
        return True

    assert client.portal is not None
    return bool(client.portal.call(stat))


def make_due(client: TestClient, vid: str) -> None:
    """Bring the video's queued cleanup jobs forward (the grace period passes)."""

    async def due() -> None:
        async with services_of(client).db.transaction() as s:
            rows = await s.execute(
                select(Job).where(Job.video_id == vid, Job.kind == "cleanup", Job.state == "queued")
            )
            for job in rows.scalars():
                job.run_at = utcnow() - dt.timedelta(seconds=1)

    assert client.portal is not None
    client.portal.call(due)


@pytest.fixture(scope="module")
def second_clip(media_dir: Path) -> Path:
    """The replacement: shorter and of another size than ``clip``."""
    return make_clip(media_dir / "replacement.mp4", seconds=3, width=320, height=240)


def test_a_new_source_replaces_the_published_version_in_one_switch(
    client: TestClient, anon: TestClient, clip: Path, second_clip: Path, tmp_path: Path
) -> None:
    created = upload(client, clip)
    assert created.status_code == 201, created.text
    vid = created.headers["video-id"]
    assert run_next(client) == "published"
    first = row(client, vid)
    assert first.status == "ready" and first.width == 640
    old_rev, old_source = first.published_rev, first.source_key

    # nobody else may replace it; an unknown video is a 404; bad ids are a 400
    other = create_account(client, "someone")
    r = upload(anon, second_clip, video_id=vid)
    assert r.status_code == 401, r.text
    r = upload(client, second_clip, video_id=vid, **bearer(other))
    assert r.status_code == 403, r.text
    assert upload(client, second_clip, video_id="AAAAAAAAAAAAAAAA").status_code == 404
    bad = upload(client, second_clip, video_id="../x")
    assert bad.status_code == 400 and "video_id" in bad.json()["error"]["message"]

    replaced = upload(client, second_clip, video_id=vid)
    assert replaced.status_code == 201, replaced.text
    assert replaced.headers["video-id"] == vid  # same video, same URLs
    upload_id = replaced.headers["location"].rsplit("/", 1)[-1]

    # until the new version is published, the old one is what the video is and plays
    waiting = client.get(f"/api/v1/videos/{vid}").json()
    assert waiting["status"] == "ready" and waiting["width"] == 640
    assert row(client, vid).published_rev == old_rev
    assert client.get(f"/api/v1/videos/{vid}/playback").status_code == 200
    # one replacement at a time: the video is being processed
    busy = upload(client, second_clip, video_id=vid)
    assert busy.status_code == 409 and "being processed" in busy.json()["error"]["message"]

    assert run_next(client, kind="transcode") == "published"
    after = row(client, vid)
    assert after.status == "ready" and after.published_rev != old_rev
    assert (after.width, after.height) == (320, 240)
    assert after.duration_s == pytest.approx(3, abs=0.2)
    assert after.source_key.endswith(f"/source.{upload_id}")
    assert stored(client, after.source_key) and stored(client, old_source)
    payloads = [j.payload for j in cleanup_jobs(client, vid)]
    assert {"rev": old_rev} in payloads and {"source": old_source} in payloads
    out = client.get(f"/api/v1/videos/{vid}").json()
    assert out["id"] == vid and out["width"] == 320

    # after the grace period the old rev and the old source go; the new ones stay
    make_due(client, vid)
    outcomes = {run_next(client, kind="cleanup") for _ in range(2)}
    assert "removed" in outcomes
    assert not stored(client, old_source) and stored(client, after.source_key)


def test_a_replacement_that_fails_leaves_the_video_as_it_was(
    client: TestClient, clip: Path, tmp_path: Path
) -> None:
    created = upload(client, clip)
    vid = created.headers["video-id"]
    assert run_next(client) == "published"
    before = row(client, vid)

    junk = tmp_path / "not-a-video.mp4"
    junk.write_bytes(b"this is not a video at all\n" * 200)
    replaced = upload(client, junk, video_id=vid)
    assert replaced.status_code == 201, replaced.text
    upload_id = replaced.headers["location"].rsplit("/", 1)[-1]
    new_key = f"videos/{vid}/source.{upload_id}"
    assert stored(client, new_key)

    # a file that can never work fails for good at once; the video plays on as it was
    assert run_next(client, kind="transcode") == "failed"
    after = row(client, vid)
    assert after.status == "ready" and after.error is None
    assert (after.published_rev, after.source_key) == (before.published_rev, before.source_key)
    timeline = client.get(f"/api/v1/videos/{vid}/timeline").json()
    assert timeline["job"]["state"] == "failed"
    # the failed source is removed; the video's own stays
    assert run_next(client, kind="cleanup") == "removed"
    assert not stored(client, new_key) and stored(client, before.source_key)


def test_a_failed_video_gets_a_new_source_at_once(
    client: TestClient, clip: Path, tmp_path: Path
) -> None:
    junk = tmp_path / "broken.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    vid = upload(client, junk).headers["video-id"]
    assert run_next(client) == "failed"
    old_source = row(client, vid).source_key
    assert row(client, vid).status == "failed"

    replaced = upload(client, clip, video_id=vid)
    assert replaced.status_code == 201, replaced.text
    queued = row(client, vid)
    assert queued.status == "queued" and queued.error is None
    assert queued.source_key != old_source
    # the new source transcodes, and the broken one, superseded, is removed
    assert run_next(client, kind="transcode") == "published"
    assert row(client, vid).status == "ready"
    assert run_next(client, kind="cleanup") == "removed"
    assert not stored(client, old_source) and stored(client, queued.source_key)
