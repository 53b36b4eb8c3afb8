"""A video's first playable and first ready moment, measured from its upload's completion.

The SLOs on time to playable and to ready (``docs/runbook.md``) read the histograms
``reelstream_video_time_to_playable_seconds`` and ``..._ready_seconds``, observed by the worker
that publishes: once per video, the first time it becomes playable (a progressive publish, or the
final publish of a video nobody could play yet) and the first time it becomes ready (a later
rev of a ready video, a replaced source or added renditions, is not counted again).

The start is the upload's ``completed_at`` (the tus upload's row); a video without one (a form
upload, whose row is written once the file is in) starts at the video's ``created_at``. The
observation is made after the publishing transaction commits: a rolled-back publish counts
nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.base import utcnow
from reelstream.db.models import Upload, Video
from reelstream.observability.metrics import Metrics


async def upload_done_at(session: AsyncSession, video: Video) -> dt.datetime:
    """When the video's upload completed (its latest completed tus upload, else its creation)."""
    done = await session.scalar(
        select(func.max(Upload.completed_at)).where(Upload.video_id == video.id)
    )
    return _aware(done or video.created_at)


def observe(metrics: Metrics, since: dt.datetime | None, milestones: Iterable[str]) -> None:
    """Record ``milestones`` ("playable", "ready") reached now; ``since`` None: none reached."""
    if since is None:
        return
    elapsed = max(0.0, (utcnow() - _aware(since)).total_seconds())
    for name in milestones:
        metrics.milestone(name).observe(elapsed)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)
