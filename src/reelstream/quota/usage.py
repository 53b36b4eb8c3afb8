"""How many bytes each user's videos take, and the quota check at upload creation.

A user's bytes: for every video they own, the stored source (``videos.source_bytes``) plus
everything the published transcode wrote (``videos.output_bytes``: renditions, poster,
storyboard, playlists and manifests, and the caption copies of that rev), plus their caption
files (``captions.bytes``), plus the declared ``Upload-Length`` of each of their unfinished,
unexpired uploads, so parallel uploads cannot overshoot the quota together.

A user's quota is their override (``users.quota_bytes``, set by an admin: 0 is unlimited)
when they have one, else ``settings.default_quota_bytes`` (0: unlimited); admins have none,
whatever their override says.
``reserve`` runs in the upload-creation transaction with the user's row locked (``FOR
UPDATE`` on PostgreSQL; SQLite writers are serialized by ``BEGIN IMMEDIATE``), so two
concurrent creations see each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.base import utcnow
from reelstream.db.models import Caption, Upload, User, Video
from reelstream.formatting import human_bytes
from reelstream.quota.errors import QuotaExceeded


@dataclass(frozen=True)
class Usage:
    user_id: str
    username: str
    is_admin: bool
    used_bytes: int
    quota_bytes: int | None  # None: unlimited
    videos: int
    uploading_bytes: int  # part of used_bytes: declared lengths of unfinished uploads
    quota_override: int | None = None  # users.quota_bytes (None: the default; 0: unlimited)
    disabled: bool = False  # an admin disabled the account (no sign-in, no token works)

    @property
    def left_bytes(self) -> int | None:
        return None if self.quota_bytes is None else max(0, self.quota_bytes - self.used_bytes)


def quota_for(user: User, default_quota_bytes: int) -> int | None:
    """The user's effective quota in bytes; None: unlimited (admins, an override of 0, or no
    override and a default of 0)."""
    if user.is_admin:
        return None
    quota = default_quota_bytes if user.quota_bytes is None else user.quota_bytes
    return quota or None


async def _bytes_by_owner(
    session: AsyncSession, user_ids: list[str] | None
) -> dict[str, tuple[int, int, int]]:
    """owner id -> (videos, stored bytes, bytes of unfinished uploads)."""
    stored = func.coalesce(Video.source_bytes, 0) + func.coalesce(Video.output_bytes, 0)
    q_videos = select(Video.owner_id, func.count(Video.id), func.sum(stored)).group_by(
        Video.owner_id
    )
    q_captions = (
        select(Video.owner_id, func.sum(Caption.bytes))
        .join(Video, Caption.video_id == Video.id)
        .group_by(Video.owner_id)
    )
    q_uploads = (
        select(Video.owner_id, func.sum(Upload.length))
        .join(Video, Upload.video_id == Video.id)
        .where(Upload.completed_at.is_(None), Upload.expires_at > utcnow())
        .group_by(Video.owner_id)
    )
    if user_ids is not None:
        q_videos = q_videos.where(Video.owner_id.in_(user_ids))
        q_captions = q_captions.where(Video.owner_id.in_(user_ids))
        q_uploads = q_uploads.where(Video.owner_id.in_(user_ids))
    else:
        q_videos = q_videos.where(Video.owner_id.is_not(None))
    out: dict[str, tuple[int, int, int]] = {}
    for owner, count, total in (await session.execute(q_videos)).all():
        if owner is not None:
            out[owner] = (int(count), int(total or 0), 0)
    for owner, total in (await session.execute(q_captions)).all():
        if owner is not None:
            n, b, u = out.get(owner, (0, 0, 0))
            out[owner] = (n, b + int(total or 0), u)
    for owner, total in (await session.execute(q_uploads)).all():
        if owner is not None:
            n, b, u = out.get(owner, (0, 0, 0))
            out[owner] = (n, b, u + int(total or 0))
    return out


def _usage(user: User, row: tuple[int, int, int], default_quota_bytes: int) -> Usage:
    videos, stored, uploading = row
    return Usage(
        user_id=user.id,
        username=user.username,
        is_admin=user.is_admin,
        used_bytes=stored + uploading,
        quota_bytes=quota_for(user, default_quota_bytes),
        videos=videos,
        uploading_bytes=uploading,
        quota_override=user.quota_bytes,
        disabled=user.disabled,
    )


async def user_usage(session: AsyncSession, user: User, default_quota_bytes: int) -> Usage:
    rows = await _bytes_by_owner(session, [user.id])
    return _usage(user, rows.get(user.id, (0, 0, 0)), default_quota_bytes)


async def all_usage(session: AsyncSession, default_quota_bytes: int) -> list[Usage]:
    """Every user, the biggest first."""
    rows = await _bytes_by_owner(session, None)
    users = (await session.execute(select(User))).scalars().all()
    found = [_usage(u, rows.get(u.id, (0, 0, 0)), default_quota_bytes) for u in users]
    return sorted(found, key=lambda u: (-u.used_bytes, u.username.lower()))


async def reserve(
    session: AsyncSession, owner_id: str | None, length: int, default_quota_bytes: int
) -> None:
    """Refuse (413) an upload of ``length`` bytes that does not fit in the owner's quota. Call
    inside the transaction that creates the upload."""
    if owner_id is None:
        return
    user = (
        await session.execute(select(User).where(User.id == owner_id).with_for_update())
    ).scalar_one_or_none()
    if user is None or quota_for(user, default_quota_bytes) is None:
        return
    usage = await user_usage(session, user, default_quota_bytes)
    left = usage.left_bytes
    assert left is not None
    assert usage.quota_bytes is not None
    if length > left:
        raise QuotaExceeded(
            f"this upload needs {human_bytes(length)} but only {human_bytes(left)} of your "
            f"{human_bytes(usage.quota_bytes)} quota is left"
        )
