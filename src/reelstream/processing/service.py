"""What the processing routes do: read a video's timeline, retry a failed video or one failed
rendition. Each method authorizes the caller (``reelstream.auth.policy``) and answers a
``TimelineView`` (the video, its composed timeline, and whether the caller may retry), which
``reelstream.processing.routes`` presents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.auth import policy
from reelstream.auth.deps import Principal, authorize
from reelstream.db.models import Upload, Video
from reelstream.processing import retry
from reelstream.processing.timeline import Composed, compose
from reelstream.videos import repository as repo

if TYPE_CHECKING:
    from reelstream.services import Services


@dataclass(frozen=True)
class TimelineView:
    video: Video
    composed: Composed
    may_retry: bool
    """Whether the caller may retry this video (scope and policy), whatever there is to retry."""


def may_retry(user: Principal | None, video: Video) -> bool:
    if user is None or not user.has_scope(policy.SCOPE["retry"]):
        return False
    role = policy.role_of(user_id=user.id, is_admin=user.acts_as_admin, owner_id=video.owner_id)
    return policy.allowed("retry", role, video.visibility)


async def newest_upload(session: AsyncSession, video_id: str) -> Upload | None:
    rows = await session.execute(
        select(Upload).where(Upload.video_id == video_id).order_by(Upload.created_at.desc())
    )
    return rows.scalars().first()


class ProcessingService:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def _view(
        self, session: AsyncSession, video: Video, user: Principal | None
    ) -> TimelineView:
        jobs = await self.services.queue.jobs_of(session, video.id)
        composed = compose(video, jobs, await newest_upload(session, video.id))
        return TimelineView(video, composed, may_retry(user, video))

    async def timeline(self, video_id: str, user: Principal | None) -> TimelineView:
        """The video's processing, stage by stage (``inspect``: its owner and admins)."""
        async with self.services.db.read(primary=True) as s:
            video = await repo.get_video(s, video_id)
            authorize(user, "inspect", owner_id=video.owner_id, visibility=video.visibility)
            return await self._view(s, video, user)

    async def retry_video(self, video_id: str, user: Principal | None) -> TimelineView:
        """Transcode a failed video again from its stored source (``retry`` action)."""
        async with self.services.db.transaction() as s:
            video = await repo.get_video(s, video_id, for_update=True)
            authorize(user, "retry", owner_id=video.owner_id, visibility=video.visibility)
            await retry.retry_video(s, self.services.queue, video_id)
            return await self._view(s, video, user)

    async def retry_rendition(
        self, video_id: str, name: str, user: Principal | None
    ) -> TimelineView:
        """Encode one failed rendition of a ready video again (``retry`` action)."""
        async with self.services.db.transaction() as s:
            video = await repo.get_video(s, video_id, for_update=True)
            authorize(user, "retry", owner_id=video.owner_id, visibility=video.visibility)
            await retry.retry_renditions(s, self.services.queue, video_id, [name])
            return await self._view(s, video, user)
