"""Video repository: the queries and state changes on videos and their renditions.

Functions take the caller's session, so a state change and the job it implies share one
transaction (no dual write).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.base import utcnow
from reelstream.db.models import Job, Rendition, Video
from reelstream.http import pagination
from reelstream.ids import is_valid_id, new_id
from reelstream.queue.kinds import HOUSEKEEPING_KINDS
from reelstream.videos.domain import VideoRendition
from reelstream.videos.errors import VideoNotFound


async def create_video(
    session: AsyncSession,
    *,
    title: str,
    filename: str,
    visibility: str = "public",
    owner_id: str | None = None,
    description: str = "",
) -> Video:
    video = Video(
        id=new_id(),
        title=title,
        description=description,
        filename=filename,
        visibility=visibility,
        owner_id=owner_id,
    )
    session.add(video)
    await session.flush()
    return video


async def get_video(session: AsyncSession, video_id: str, *, for_update: bool = False) -> Video:
    if not is_valid_id(video_id):
        raise VideoNotFound(f"no video {video_id!r}")
    stmt = select(Video).where(Video.id == video_id)
    if for_update and session.bind is not None and session.bind.dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    video = (await session.execute(stmt)).scalar_one_or_none()
    if video is None:
        raise VideoNotFound(f"no video {video_id!r}")
    return video


_VIDEO_FILTERS = "status, owner, q"

WATCHABLE = and_(Video.published_rev.is_not(None), Video.status != "failed")
"""Ready, or playable while it is still processing (a rev published as it grows): a
published rev that has not failed. Uploading, queued-and-not-yet-playable and failed videos
are for their owner's eyes (``/me/videos``). The listing walks ``ix_videos_created`` newest
first and drops the others on the way, as it does the non-public ones: no index of its own
while most rows are watchable."""


def _parse_cursor(data: Any) -> tuple[tuple[dt.datetime, str], object]:
    created, vid, key = data
    when = dt.datetime.fromisoformat(created)
    if when.utcoffset() != dt.timedelta(0) or not isinstance(vid, str) or not is_valid_id(vid):
        raise ValueError("bad cursor")
    return (when, vid), key


def like_pattern(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching ``text`` anywhere, its own ``%``,
    ``_`` and ``\\`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_videos(
    session: AsyncSession,
    *,
    cursors: pagination.Cursors,
    limit: int = 20,
    cursor: str | None = None,
    status: str | None = None,
    visibility: str | None = None,
    owner_id: str | None = None,
    q: str | None = None,
    watchable: bool = False,
) -> tuple[list[Video], str | None]:
    """Newest first. Returns the page and the cursor of the next page (None at the end).

    ``watchable``: only videos a viewer can watch now (``WATCHABLE``): what listings show
    to anyone but the owner. Not part of the cursor's fingerprint: it goes with
    ``visibility="public"`` (the viewers' listings), which is.

    ``q``: titles containing it, case-insensitively (ASCII case only on SQLite). A cursor
    is signed by ``cursors`` and carries a fingerprint of the filters: one that does not
    verify, or comes from other filters, is refused (``InvalidCursor``, see
    ``reelstream.http.pagination``).
    """
    filters = pagination.filter_key(status, visibility, owner_id, q or None)
    stmt = select(Video).order_by(Video.created_at.desc(), Video.id.desc()).limit(limit + 1)
    if cursor:
        when, vid = cursors.decode(cursor, filters, _parse_cursor, _VIDEO_FILTERS)
        stmt = stmt.where(
            or_(Video.created_at < when, and_(Video.created_at == when, Video.id < vid))
        )
    if status:
        stmt = stmt.where(Video.status == status)
    if visibility:
        stmt = stmt.where(Video.visibility == visibility)
    if owner_id:
        stmt = stmt.where(Video.owner_id == owner_id)
    if watchable:
        stmt = stmt.where(WATCHABLE)
    if q:
        stmt = stmt.where(Video.title.ilike(like_pattern(q), escape="\\"))
    rows = list((await session.execute(stmt)).scalars().all())
    page = rows[:limit]
    nxt = None
    if len(rows) > limit and page:
        last = page[-1]
        nxt = cursors.encode([last.created_at.isoformat(), last.id], filters)
    return page, nxt


async def mark_uploaded(
    session: AsyncSession, video: Video, *, source_key: str, source_bytes: int
) -> None:
    """The source is stored durably: the video waits in the queue (caller enqueues the job)."""
    video.source_key = source_key
    video.source_bytes = source_bytes
    video.status = "queued"
    video.error = None
    await session.flush()


async def mark_processing(session: AsyncSession, video_id: str) -> None:
    video = await get_video(session, video_id)
    if video.status in ("queued", "processing"):
        video.status = "processing"
        await session.flush()


async def mark_queued(session: AsyncSession, video_id: str) -> None:
    video = await get_video(session, video_id)
    if video.status == "processing":
        video.status = "queued"
        await session.flush()


async def mark_failed(session: AsyncSession, video_id: str, error: str) -> str | None:
    """The video failed for good. A rev it was playable from while processing (it never
    became ready) is unpublished: returns that rev, which the caller retires after the
    playback grace period (viewers may be in the middle of it)."""
    video = await get_video(session, video_id)
    video.status = "failed"
    video.error = error
    retired = None
    if video.ready_at is None and video.published_rev is not None:
        retired = video.published_rev
        video.published_rev = None
        video.renditions.clear()
        video.media = None
    await session.flush()
    return retired


async def record_probe(
    session: AsyncSession,
    video_id: str,
    *,
    duration_s: float,
    width: int,
    height: int,
    has_audio: bool,
    probe: dict[str, object],
) -> None:
    video = await get_video(session, video_id)
    video.duration_s = duration_s
    video.width = width
    video.height = height
    video.has_audio = has_audio
    video.probe = probe
    await session.flush()


async def publish(
    session: AsyncSession,
    video_id: str,
    *,
    rev: str,
    renditions: list[VideoRendition],
    output_bytes: int,
    ready_at: dt.datetime | None = None,
) -> str | None:
    """Point the video at the outputs under ``rev`` in one state change (``ready_at``: keep
    the time it first became ready, when a rev only adds renditions).

    Returns the rev that was published before (its outputs can now be removed), if any.
    """
    video = await get_video(session, video_id)
    previous = video.published_rev
    await _point_at(session, video, rev, renditions)
    video.output_bytes = output_bytes
    video.status = "ready"
    video.error = None
    video.ready_at = ready_at or utcnow()
    await session.flush()
    return previous if previous != rev else None


async def publish_playable(
    session: AsyncSession, video_id: str, *, rev: str, renditions: list[VideoRendition]
) -> None:
    """Point a video that is still processing at ``rev``, whose playable renditions grow
    while the rest is encoded (``reelstream.processing.progressive``): it stays
    ``processing``; ``publish`` completes it, under the same rev."""
    video = await get_video(session, video_id)
    await _point_at(session, video, rev, renditions)
    await session.flush()


async def _point_at(
    session: AsyncSession, video: Video, rev: str, renditions: list[VideoRendition]
) -> None:
    video.renditions.clear()
    await session.flush()
    for spec in renditions:
        video.renditions.append(
            Rendition(
                name=spec.name,
                width=spec.width,
                height=spec.height,
                bandwidth=spec.bandwidth,
                average_bandwidth=spec.average_bandwidth,
                codecs=spec.codecs,
                playlist=spec.playlist,
                ready=spec.ready,
            )
        )
    video.published_rev = rev


async def delete_video(session: AsyncSession, video_id: str) -> Video:
    video = await get_video(session, video_id)
    await session.delete(video)
    await session.flush()
    return video


async def newest_jobs(session: AsyncSession, video_ids: list[str]) -> dict[str, Job]:
    """The newest (non-housekeeping) job of each video: one query for a whole page."""
    if not video_ids:
        return {}
    rows = await session.execute(
        select(Job)
        .where(Job.video_id.in_(video_ids), Job.kind.not_in(HOUSEKEEPING_KINDS))
        .order_by(Job.id.desc())
    )
    newest: dict[str, Job] = {}
    for job in rows.scalars():
        newest.setdefault(job.video_id, job)
    return newest
