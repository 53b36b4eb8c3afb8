"""The SQL of ingest: reads and fenced writes of ``uploads`` rows.

Every function takes an open session; the caller owns the transaction. Writes that move an
upload forward are conditional UPDATEs and report whether they applied (one row), so a
request that lost a race learns it instead of overwriting the winner.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.models import Upload, Video


def _applied(result: Any) -> bool:
    assert isinstance(result, CursorResult)
    return int(result.rowcount) == 1


async def get(s: AsyncSession, upload_id: str) -> Upload | None:
    return (await s.execute(select(Upload).where(Upload.id == upload_id))).scalar_one_or_none()


async def access(s: AsyncSession, upload_id: str) -> tuple[str | None, str] | None:
    """The owner id and visibility of the upload's video; None when there is no such upload."""
    row = (
        await s.execute(
            select(Video.owner_id, Video.visibility)
            .join(Upload, Upload.video_id == Video.id)
            .where(Upload.id == upload_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def move_offset(
    s: AsyncSession,
    upload_id: str,
    old: int,
    new: int,
    *,
    expires_at: dt.datetime,
    token: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Move an unfinished upload's offset from ``old`` to ``new`` (fenced on ``old`` and, when
    given, on the write lease ``token``)."""
    conditions = [Upload.id == upload_id, Upload.offset == old, Upload.completed_at.is_(None)]
    if token is not None:
        conditions.append(Upload.lock_token == token)
    res = await s.execute(
        update(Upload)
        .where(*conditions)
        .values(offset=new, expires_at=expires_at, **dict(values or {}))
    )
    return _applied(res)


async def mark_completed(s: AsyncSession, upload_id: str, now: dt.datetime) -> bool:
    res = await s.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.completed_at.is_(None))
        .values(completed_at=now)
    )
    return _applied(res)


async def delete_unfinished(
    s: AsyncSession, upload: Upload, *, expired_before: dt.datetime | None
) -> bool:
    """Delete an unfinished upload (only when expired, with ``expired_before``) and its
    still-uploading video. False when it finished or went meanwhile."""
    conditions = [Upload.id == upload.id, Upload.completed_at.is_(None)]
    if expired_before is not None:
        conditions.append(Upload.expires_at <= expired_before)
    res = await s.execute(delete(Upload).where(*conditions))
    if not _applied(res):
        return False
    await s.execute(delete(Video).where(Video.id == upload.video_id, Video.status == "uploading"))
    return True


async def delete_for_video(s: AsyncSession, video_id: str) -> list[Upload]:
    """Delete every upload row of a video; returns the rows deleted."""
    rows = list(
        (await s.execute(select(Upload).where(Upload.video_id == video_id))).scalars().all()
    )
    if rows:
        await s.execute(delete(Upload).where(Upload.id.in_([u.id for u in rows])))
    return rows


async def expired(s: AsyncSession, now: dt.datetime) -> list[Upload]:
    """Unfinished uploads whose expiry passed."""
    rows = await s.execute(
        select(Upload).where(Upload.completed_at.is_(None), Upload.expires_at <= now)
    )
    return list(rows.scalars().all())


async def existing_ids(s: AsyncSession, upload_ids: Collection[str]) -> set[str]:
    rows = await s.execute(select(Upload.id).where(Upload.id.in_(list(upload_ids))))
    return set(rows.scalars().all())


async def existing_multipart_ids(s: AsyncSession, multipart_ids: Collection[str]) -> set[str]:
    rows = await s.execute(
        select(Upload.multipart_id).where(Upload.multipart_id.in_(list(multipart_ids)))
    )
    return {m for m in rows.scalars().all() if m is not None}


async def completed_ids(s: AsyncSession, upload_ids: Collection[str]) -> set[str]:
    """Those of ``upload_ids`` whose upload is complete (its source stored and committed)."""
    rows = await s.execute(
        select(Upload.id).where(Upload.id.in_(list(upload_ids)), Upload.completed_at.is_not(None))
    )
    return set(rows.scalars().all())


# -- the write lease (object staging: one writer per upload across api instances)


async def take_lease(
    s: AsyncSession, upload_id: str, token: str, *, now: dt.datetime, until: dt.datetime
) -> bool:
    """Take the write lease of an unfinished upload unless another live lease holds it."""
    res = await s.execute(
        update(Upload)
        .where(
            Upload.id == upload_id,
            Upload.completed_at.is_(None),
            or_(Upload.locked_until.is_(None), Upload.locked_until < now),
        )
        .values(lock_token=token, locked_until=until)
    )
    return _applied(res)


async def refresh_lease(s: AsyncSession, upload_id: str, token: str, until: dt.datetime) -> bool:
    res = await s.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.lock_token == token)
        .values(locked_until=until)
    )
    return _applied(res)


async def release_lease(s: AsyncSession, upload_id: str, token: str) -> None:
    await s.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.lock_token == token)
        .values(lock_token=None, locked_until=None)
    )


async def record_multipart(
    s: AsyncSession, upload_id: str, multipart_id: str, *, token: str | None = None
) -> bool:
    """Record the upload's multipart upload id when none is recorded (fenced on ``token``)."""
    conditions = [Upload.id == upload_id, Upload.multipart_id.is_(None)]
    if token is not None:
        conditions.append(Upload.lock_token == token)
    res = await s.execute(update(Upload).where(*conditions).values(multipart_id=multipart_id))
    return _applied(res)
