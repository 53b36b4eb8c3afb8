"""What the admin API and the admin page ask the database: jobs with their video and owner,
counts by state, retries, ready videos published without some renditions, and users' storage
with quota overrides.

Job listings are newest first (by id) with an opaque signed cursor (``reelstream.http.pagination``)
of the last id shown and a fingerprint of the filters, so a cursor is refused (``InvalidCursor``,
400) when it does not verify or comes from other filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.admin.errors import JobNotFound, UserNotFound
from reelstream.admin.schemas import MAX_QUOTA_BYTES, JobOut
from reelstream.auth.deps import Principal
from reelstream.auth.errors import Forbidden
from reelstream.db.models import JOB_STATES, Job, User, Video
from reelstream.http import pagination
from reelstream.processing.retry import retry_job, retry_renditions
from reelstream.processing.timeline import effective_stages
from reelstream.queue.kinds import HOUSEKEEPING_KINDS, RENDITION, TRANSCODE
from reelstream.quota.usage import Usage, all_usage, user_usage

if TYPE_CHECKING:
    from reelstream.services import Services

MAX_JOB_ID = 2**31 - 1  # what the INTEGER column holds
DEGRADED_SCAN = 500  # finished transcode/rendition jobs looked at for failed renditions


def require_admin(principal: Principal) -> None:
    """Refuse (403) a caller who is not an admin acting as one."""
    if not principal.acts_as_admin:
        raise Forbidden("only admins (with an access token of scope 'admin') may do this")


def _select_jobs() -> Select[Job, str, str]:
    return (
        select(Job, Video.title, User.username)
        .join(Video, Job.video_id == Video.id)
        .outerjoin(User, Video.owner_id == User.id)
    )


_JOB_COLUMNS = [
    name for name in JobOut.model_fields if name not in ("video_title", "owner_username")
]


def _view(job: Job, title: str, username: str | None) -> JobOut:
    fields = {name: getattr(job, name) for name in _JOB_COLUMNS}
    return JobOut.model_validate({**fields, "video_title": title, "owner_username": username})


_JOB_FILTERS = "state, kind"


def encode_cursor(
    cursors: pagination.Cursors, last_id: int, state: str | None, kind: str | None
) -> str:
    return cursors.encode([last_id], pagination.filter_key(state, kind))


def _parse_cursor(data: Any) -> tuple[int, object]:
    last_id, key = data
    if type(last_id) is not int or not 0 < last_id <= MAX_JOB_ID or type(key) is not str:
        raise ValueError("bad cursor")
    return last_id, key


def decode_cursor(
    cursors: pagination.Cursors, cursor: str, state: str | None, kind: str | None
) -> int:
    """The id below which the next page starts; ``InvalidCursor`` when the cursor is not ours
    or belongs to other filters."""
    filters = pagination.filter_key(state, kind)
    return cursors.decode(cursor, filters, _parse_cursor, _JOB_FILTERS)


async def list_jobs(
    session: AsyncSession,
    *,
    cursors: pagination.Cursors,
    state: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[JobOut], str | None]:
    """Newest first; returns the page and the next page's cursor (None at the end)."""
    stmt = _select_jobs().order_by(Job.id.desc()).limit(limit + 1)
    if cursor:
        stmt = stmt.where(Job.id < decode_cursor(cursors, cursor, state, kind))
    if state:
        stmt = stmt.where(Job.state == state)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    rows = [_view(job, title, name) for job, title, name in (await session.execute(stmt)).all()]
    page = rows[:limit]
    nxt = encode_cursor(cursors, page[-1].id, state, kind) if len(rows) > limit and page else None
    return page, nxt


async def job_counts(session: AsyncSession) -> dict[str, int]:
    """Jobs per state, every state present (0 when none)."""
    rows = (await session.execute(select(Job.state, func.count()).group_by(Job.state))).all()
    counts = dict.fromkeys(JOB_STATES, 0)
    counts.update({state: int(n) for state, n in rows})
    return counts


async def get_job(session: AsyncSession, job_id: int) -> JobOut:
    row = (await session.execute(_select_jobs().where(Job.id == job_id))).first()
    if row is None:
        raise JobNotFound(f"no job {job_id}")
    job, title, name = row
    return _view(job, title, name)


async def newer_jobs(session: AsyncSession, jobs: list[JobOut]) -> dict[int, int]:
    """For each of ``jobs``: the newest later job of the same video, when there is one (a
    failed job that has one was superseded, by a retry or a new transcode)."""
    video_ids = {j.video_id for j in jobs}
    if not video_ids:
        return {}
    rows = (
        await session.execute(
            select(Job.video_id, func.max(Job.id))
            .where(Job.video_id.in_(video_ids), Job.kind.not_in(HOUSEKEEPING_KINDS))
            .group_by(Job.video_id)
        )
    ).all()
    newest = {video_id: int(n) for video_id, n in rows}
    return {j.id: newest[j.video_id] for j in jobs if newest.get(j.video_id, j.id) > j.id}


async def retry(services: Services, job_id: int) -> JobOut:
    """Re-queue a failed job (``reelstream.processing.retry.retry_job``) in one transaction,
    then wake the workers; returns the new job. 404 unknown job, 409 ``NothingToRetry``."""
    async with services.db.transaction() as s:
        job = await s.get(Job, job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id}")
        new = await retry_job(s, services.queue, job)
        view = await get_job(s, new.id)
    return view


@dataclass(frozen=True)
class Degraded:
    """A ready video whose renditions did not all encode (and are still failed)."""

    video_id: str
    video_title: str
    owner_username: str | None
    failed: dict[str, str]  # rendition -> why it failed
    retry_queued: bool  # a rendition job for it is queued or running


def _has_failed_encode(stages: list[dict[str, Any]] | None) -> bool:
    return any(s.get("name") == "encode" and s.get("state") == "failed" for s in stages or [])


async def degraded_videos(session: AsyncSession, services: Services, limit: int) -> list[Degraded]:
    """Ready videos published without some renditions, newest first: the candidates are the
    videos of the newest finished transcode and rendition jobs that recorded a failed encode;
    each is then judged on its whole timeline (a later successful retry clears it)."""
    rows = (
        await session.execute(
            select(Job.video_id, Job.stages)
            .where(
                Job.kind.in_((TRANSCODE, RENDITION)),
                Job.state.in_(("succeeded", "failed")),
            )
            .order_by(Job.id.desc())
            .limit(DEGRADED_SCAN)
        )
    ).all()
    candidates = list(dict.fromkeys(vid for vid, stages in rows if _has_failed_encode(stages)))
    found: list[Degraded] = []
    for video_id in candidates:
        row = (
            await session.execute(
                select(Video.title, Video.status, User.username)
                .outerjoin(User, User.id == Video.owner_id)
                .where(Video.id == video_id)
            )
        ).first()
        if row is None or row.status != "ready":
            continue
        jobs = await services.queue.jobs_of(session, video_id)
        timeline, newest = effective_stages(jobs)
        failed = {
            s.rendition: s.error or "failed"
            for s in timeline.stages
            if s.name == "encode" and s.state == "failed" and s.rendition
        }
        queued = (
            newest is not None
            and newest.kind == RENDITION
            and newest.state in ("queued", "running")
        )
        if failed or queued:
            found.append(Degraded(video_id, row.title, row.username, failed, queued))
        if len(found) >= limit:
            break
    return found


async def retry_failed_renditions(services: Services, video_id: str) -> Job:
    """Queue a new encode of every failed rendition of a ready video, then wake the workers."""
    async with services.db.transaction() as s:
        jobs = await services.queue.jobs_of(s, video_id)
        timeline, _ = effective_stages(jobs)
        new = await retry_renditions(s, services.queue, video_id, timeline.failed_renditions())
    return new


async def users_usage(session: AsyncSession, services: Services) -> list[Usage]:
    """Every user with their bytes, effective quota and override, the biggest first."""
    return await all_usage(session, services.settings.default_quota_bytes)


async def set_quota(services: Services, user_id: str, quota_bytes: int | None) -> Usage:
    """Set (or with None, remove) a user's quota override; returns their usage after it."""
    if quota_bytes is not None and not 0 <= quota_bytes <= MAX_QUOTA_BYTES:
        raise ValueError(f"quota_bytes must be between 0 and {MAX_QUOTA_BYTES}")
    async with services.db.transaction() as s:
        user = await s.get(User, user_id, with_for_update=True)
        if user is None:
            raise UserNotFound(f"no user {user_id!r}")
        user.quota_bytes = quota_bytes
        await s.flush()
        return await user_usage(s, user, services.settings.default_quota_bytes)
