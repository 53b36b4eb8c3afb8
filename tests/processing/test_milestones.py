"""Time from upload complete to playable / ready: the start is the tus upload's completion."""

from __future__ import annotations

import datetime as dt

import pytest

from reelstream.db.base import utcnow
from reelstream.db.models import Upload
from reelstream.processing import milestones
from reelstream.services import Services
from reelstream.videos import repository as videos


async def test_measured_from_the_upload_completion(services: Services) -> None:
    done = utcnow() - dt.timedelta(seconds=100)
    async with services.db.transaction() as s:
        video = await videos.create_video(s, title="t", filename="t.mp4")
        s.add(
            Upload(
                id="u1",
                video_id=video.id,
                length=1,
                offset=1,
                expires_at=utcnow() + dt.timedelta(days=1),
                completed_at=done,
            )
        )
        await s.flush()
        assert await milestones.upload_done_at(s, video) == done
        plain = await videos.create_video(s, title="t", filename="t.mp4")  # a form upload
        assert await milestones.upload_done_at(s, plain) == plain.created_at
    milestones.observe(services.metrics, done, ("playable", "ready"))
    milestones.observe(services.metrics, None, ("ready",))  # not the first time: nothing
    registry = services.metrics.registry
    for name in ("playable", "ready"):
        metric = f"reelstream_video_time_to_{name}_seconds"
        assert registry.get_sample_value(f"{metric}_count") == 1
        assert registry.get_sample_value(f"{metric}_sum") == pytest.approx(100, abs=30)
        # a 100 s wait is within the 120 s target's bucket
        assert registry.get_sample_value(f"{metric}_bucket", {"le": "120.0"}) == 1
