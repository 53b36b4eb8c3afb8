"""The video service: what the video API and the pages do to videos, behind one object.

Listing and reading (through the cache: ``load_view``), editing, deleting (database row, stored
files, staged upload data), choosing the poster frame and adding or removing caption tracks.
Each method authorizes the caller (``reelstream.auth.policy``) and raises domain errors; the
routers (``reelstream.videos.routes``, ``reelstream.videos.media_routes``) and the pages
(``reelstream.web.pages``) only parse, call one method and present.

Deleting a video removes its staged upload data with ``discard_staging(video_id)``, a
constructor dependency (``reelstream.videos.deps`` wires it), called after the caller is
authorized and before the rows go, so it can still read the video's uploads.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from reelstream import webhooks
from reelstream.auth import policy
from reelstream.auth.accounts import find_user
from reelstream.auth.deps import Principal, authorize
from reelstream.auth.errors import NotAuthenticated
from reelstream.db.models import Caption, Job, User, Video
from reelstream.media.errors import InvalidCaption
from reelstream.queue.kinds import POSTER as POSTER_KIND
from reelstream.storage.errors import StorageError
from reelstream.storage.keys import video_prefix
from reelstream.videos import repository as repo
from reelstream.videos.cache import HotPage, VideoView
from reelstream.videos.errors import InvalidPosterTime, VideoNotReady
from reelstream.videos.publishing import add_caption, list_video_captions, remove_caption
from reelstream.videos.titles import check_description, check_title

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)

DiscardStaging = Callable[[str], Awaitable[None]]
"""Remove the staged upload data of a video's uploads (given the video id)."""

CaptionUpload = Callable[[], Awaitable[tuple[bytes, str | None, str | None]]]
"""Read a caption upload: the file, and the language and label when the body names them."""


@dataclass(frozen=True)
class VideoListing:
    videos: list[Video]
    jobs: dict[str, Job]  # the newest job of each video that has one
    next_cursor: str | None


@dataclass(frozen=True)
class CaptionAdded:
    caption: Caption
    created: bool  # False: it replaced the caption of that language
    published_rev: str | None
    visibility: str


async def load_view(services: Services, video_id: str) -> VideoView:
    """The video as viewers see it: from the cache when it holds it (no database query),
    else from the database (and cached when final; see ``reelstream.videos.cache``)."""

    async def load() -> VideoView:
        async with services.db.read() as s:
            video = await repo.get_video(s, video_id)
            job = await services.queue.active_job(s, video.id)
            return VideoView.from_row(video, job)

    return await services.video_cache.load(video_id, load)


class VideoService:
    def __init__(self, services: Services, *, discard_staging: DiscardStaging) -> None:
        self.services = services
        self._discard_staging = discard_staging

    # -- reading -------------------------------------------------------------------------------

    async def list_videos(
        self,
        user: Principal | None,
        *,
        limit: int,
        cursor: str | None = None,
        status: str | None = None,
        owner: str | None = None,
        q: str | None = None,
        with_jobs: bool = True,
    ) -> VideoListing:
        """Public videos a viewer can watch now (``repo.WATCHABLE``: ready, or playable while
        processing); ``owner="me"``: the caller's own, every visibility and status (sign-in
        needed; read from the primary); another ``owner``: that user's public, watchable
        videos."""
        if owner == "me" and user is None:
            raise NotAuthenticated("owner=me lists your own videos: sign in or send a token")
        q = (q or "").strip() or None
        async with self.services.db.read(primary=owner == "me") as s:
            page: list[Video] = []
            nxt = None
            if owner == "me" and user is not None:
                page, nxt = await repo.list_videos(
                    s,
                    cursors=self.services.cursors,
                    limit=limit,
                    cursor=cursor,
                    status=status,
                    owner_id=user.id,
                    q=q,
                )
            elif owner is not None:
                found = await find_user(s, owner)
                if found is not None:
                    page, nxt = await repo.list_videos(
                        s,
                        cursors=self.services.cursors,
                        limit=limit,
                        cursor=cursor,
                        status=status,
                        visibility="public",
                        owner_id=found.id,
                        q=q,
                        watchable=True,
                    )
            else:
                page, nxt = await repo.list_videos(
                    s,
                    cursors=self.services.cursors,
                    limit=limit,
                    cursor=cursor,
                    status=status,
                    visibility="public",
                    q=q,
                    watchable=True,
                )
            jobs = await repo.newest_jobs(s, [v.id for v in page]) if with_jobs else {}
        return VideoListing(videos=page, jobs=jobs, next_cursor=nxt)

    async def first_page(self, limit: int) -> HotPage:
        """The first page of the public listing (no cursor, no filter: the same for every
        caller), from the local tier when it holds it (see ``reelstream.videos.cache``)."""

        async def load() -> HotPage:
            found = await self.list_videos(None, limit=limit)
            views = [VideoView.from_row(v, found.jobs.get(v.id)) for v in found.videos]
            return HotPage(views, found.next_cursor)

        return await self.services.video_cache.load_page(limit, load)

    async def view(
        self, video_id: str, user: Principal | None, action: policy.Action = "view"
    ) -> VideoView:
        """The (possibly cached) view of a video the caller may ``view`` (or ``playback``)."""
        view = await load_view(self.services, video_id)
        authorize(user, action, owner_id=view.owner_id, visibility=view.visibility)
        return view

    async def get(self, video_id: str, user: Principal | None) -> Video:
        """The video row (with its renditions), if the caller may view it."""
        async with self.services.db.read() as s:
            video = await repo.get_video(s, video_id)
            authorize(user, "view", owner_id=video.owner_id, visibility=video.visibility)
            return video

    async def uploader(self, owner_id: str | None) -> str | None:
        """The username of a video's owner (None: a video from before accounts, or a deleted
        user)."""
        if owner_id is None:
            return None
        async with self.services.db.read() as s:
            found = await s.get(User, owner_id)
            return found.username if found is not None else None

    async def _visibility(
        self, video_id: str, user: Principal | None, action: policy.Action
    ) -> str:
        """404 for an unknown video, then the policy; returns the video's visibility."""
        async with self.services.db.read(primary=True) as s:
            video = await repo.get_video(s, video_id)
        authorize(user, action, owner_id=video.owner_id, visibility=video.visibility)
        return video.visibility

    # -- changing ------------------------------------------------------------------------------

    async def update(
        self,
        video_id: str,
        user: Principal,
        *,
        title: str | None = None,
        visibility: str | None = None,
        description: str | None = None,
    ) -> tuple[Video, Job | None]:
        """Change the title, the description and/or the visibility (None: unchanged); returns
        the video and its newest job."""
        async with self.services.db.transaction() as s:
            video = await repo.get_video(s, video_id, for_update=True)
            authorize(user, "edit", owner_id=video.owner_id, visibility=video.visibility)
            if title is not None:
                video.title = check_title(title)
            if description is not None:
                video.description = check_description(description)
            if visibility is not None:
                video.visibility = visibility
            await s.flush()
            job = await self.services.queue.active_job(s, video.id)
        return video, job

    async def delete(self, video_id: str, user: Principal) -> None:
        """Delete a video with its jobs, renditions, uploads and stored files.

        The staged upload data goes first (once the caller is authorized), then the database
        row in one transaction, so the video disappears at once and atomically; the stored
        files are removed afterwards. A storage failure then is logged, not raised: the files
        are unreachable without the row and can be collected later.
        """
        await self._visibility(video_id, user, "delete")
        await self._discard_staging(video_id)
        async with self.services.db.transaction() as s:
            video = await repo.get_video(s, video_id, for_update=True)
            authorize(user, "delete", owner_id=video.owner_id, visibility=video.visibility)
            await webhooks.emit(s, "video.deleted", video)
            await repo.delete_video(s, video.id)
        try:
            await self.services.store.delete_prefix(video_prefix(video_id))
        except StorageError as exc:
            log.error("video %s deleted, but its files could not be removed: %s", video_id, exc)

    async def choose_poster(self, video_id: str, user: Principal, at_s: float) -> str:
        """Queue a ``poster`` job for the frame at ``at_s`` (one queued job at most); returns
        the job's state."""
        services = self.services
        async with services.db.transaction() as s:
            video = await repo.get_video(s, video_id, for_update=True)
            authorize(user, "edit", owner_id=video.owner_id, visibility=video.visibility)
            if video.status != "ready" or video.published_rev is None:
                raise VideoNotReady(
                    f"the video is {video.status}; a poster can be chosen once it is ready"
                )
            duration = video.duration_s or 0.0
            if at_s >= duration:
                raise InvalidPosterTime(
                    f"at_s must be at least 0 and less than the duration ({duration:.3f} s)"
                )
            video.poster_at_s = at_s
            pending = (
                (
                    await s.execute(
                        select(Job).where(
                            Job.video_id == video_id,
                            Job.kind == POSTER_KIND,
                            Job.state == "queued",
                        )
                    )
                )
                .scalars()
                .first()
            )
            job = pending or await services.queue.enqueue(s, video_id, kind=POSTER_KIND)
            await s.flush()
            state = job.state
        services.notifier.notify()
        return state

    # -- captions ------------------------------------------------------------------------------

    async def add_caption(
        self, video_id: str, user: Principal, read_upload: CaptionUpload
    ) -> CaptionAdded:
        """Add (or replace) a caption track; the upload is read once the caller is known to
        be allowed to edit the video."""
        visibility = await self._visibility(video_id, user, "edit")
        data, lang, label = await read_upload()
        if not lang:
            raise InvalidCaption("the language is missing: pass ?lang=en (or a 'lang' form field)")
        caption, created = await add_caption(
            self.services, video_id, lang=lang, label=label, data=data
        )
        async with self.services.db.read(primary=True) as s:
            video = await repo.get_video(s, video_id)
            rev = video.published_rev
        return CaptionAdded(caption, created, rev, visibility)

    async def list_captions(
        self, video_id: str, user: Principal | None
    ) -> tuple[Video, list[Caption]]:
        await self._visibility(video_id, user, "view")
        return await list_video_captions(self.services, video_id)

    async def remove_caption(self, video_id: str, user: Principal, lang: str) -> None:
        await self._visibility(video_id, user, "edit")
        await remove_caption(self.services, video_id, lang)
