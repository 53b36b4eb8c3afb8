"""Ready videos published without some renditions: listed by the admin API and on the admin
page (with each failed rendition's reason), and queued again by the page's Retry form."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from reelstream.db.base import utcnow
from reelstream.db.models import Job
from reelstream.processing.timeline import Timeline
from reelstream.services import Services
from tests.admin.conftest import Admin
from tests.admin.test_page import _page, _row, _section
from tests.auth.test_accounts import csrf_of
from tests.videos.factories import create_video, publish_fake, queue_video

REASON = "the 720p rendition failed to encode: ffmpeg exited with code 1: boom"


async def published_without_720p(services: Services, title: str) -> str:
    """What a worker leaves after the per-rendition fallback: a ready video, its transcode job
    succeeded with the 720p encode failed."""
    vid = await create_video(services, title)
    await queue_video(services, vid)
    await publish_fake(services, vid)
    t = Timeline()
    t.done("probe")
    for name in ("v240", "v360", "v720", "audio"):
        if name == "v720":
            t.fail("encode", name, REASON)
        else:
            t.done("encode", name)
    t.done("package")
    t.done("publish")
    async with services.db.transaction() as s:
        job = (await s.execute(select(Job).where(Job.video_id == vid))).scalar_one()
        job.state, job.attempts, job.finished_at = "succeeded", 1, utcnow()
        job.stages = t.to_json()
    return vid


async def healthy(services: Services, title: str) -> str:
    vid = await create_video(services, title)
    await queue_video(services, vid)
    await publish_fake(services, vid)
    t = Timeline()
    t.done("encode", "v240")
    async with services.db.transaction() as s:
        job = (await s.execute(select(Job).where(Job.video_id == vid))).scalar_one()
        job.state, job.stages = "succeeded", t.to_json()
    return vid


def test_degraded_videos_are_listed_and_retried_from_the_page(
    admin: Admin, session_client: Callable[[str], TestClient]
) -> None:
    vid = admin.run(published_without_720p, admin.services, "missing 720p")
    fine = admin.run(healthy, admin.services, "all there")

    assert admin.anon.get("/api/v1/admin/degraded-videos").status_code == 401
    denied = admin.anon.get("/api/v1/admin/degraded-videos", headers=admin.headers("user"))
    assert denied.status_code == 403
    listed = admin.as_admin("GET", "/api/v1/admin/degraded-videos").json()["videos"]
    assert listed == [
        {
            "video_id": vid,
            "video_title": "missing 720p",
            "owner_username": "owner",
            "failed": {"v720": REASON},
            "retry_queued": False,
        }
    ]
    assert fine not in {v["video_id"] for v in listed}

    boss = session_client("admin-degraded")
    page = _page(boss)
    row = _row(_section(page, "failed-jobs"), "data-video-id", vid)
    assert "<strong>720p</strong>" in row and "boom" in row and "Retry" in row
    csrf = csrf_of(page)
    refused = boss.post(f"/admin/videos/{vid}/renditions/retry", follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token

    r = boss.post(
        f"/admin/videos/{vid}/renditions/retry", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"].endswith("#degraded-videos")
    queued = admin.as_admin("GET", "/api/v1/admin/jobs", params={"kind": "rendition"}).json()
    [job] = queued["items"]
    assert job["video_id"] == vid and job["payload"] == {
        "renditions": ["v720"],
        "request_id": r.headers["x-request-id"],  # the retry's own request, for the logs
    }
    assert job["state"] == "queued"
    after = _page(boss, 200, r.headers["location"].split("#")[0])
    assert f"queued again as job {job['id']}" in after
    row = _row(_section(after, "failed-jobs"), "data-video-id", vid)
    assert "retry queued" in row and "<button" not in row
    [again] = admin.as_admin("GET", "/api/v1/admin/degraded-videos").json()["videos"]
    assert again["retry_queued"] is True and again["failed"] == {}

    # a second click: refused with the reason, on the page
    twice = boss.post(f"/admin/videos/{vid}/renditions/retry", data={"csrf_token": csrf})
    assert twice.status_code == 409 and "wait for it to finish" in twice.text
    missing = boss.post(
        "/admin/videos/AAAAAAAAAAAAAAAA/renditions/retry", data={"csrf_token": csrf}
    )
    assert missing.status_code == 404
