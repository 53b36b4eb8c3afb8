"""Caption repository: the caption rows of a video (one per language).

Callers hold the video's row lock (``repository.get_video(..., for_update=True)``) in the same
transaction, so changes to one video's captions are serialized.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.models import Caption


async def list_captions(session: AsyncSession, video_id: str) -> list[Caption]:
    rows = await session.execute(
        select(Caption).where(Caption.video_id == video_id).order_by(Caption.lang)
    )
    return list(rows.scalars().all())


async def get_caption(session: AsyncSession, video_id: str, lang: str) -> Caption | None:
    return (
        await session.execute(
            select(Caption).where(Caption.video_id == video_id, Caption.lang == lang)
        )
    ).scalar_one_or_none()


async def put_caption(
    session: AsyncSession,
    video_id: str,
    *,
    lang: str,
    label: str,
    storage_key: str,
    sha256: str,
    size: int,
    cues: int,
) -> tuple[Caption, bool]:
    """Insert or replace the caption of ``lang``; returns it and whether it is new."""
    caption = await get_caption(session, video_id, lang)
    created = caption is None
    if caption is None:
        caption = Caption(video_id=video_id, lang=lang)
        session.add(caption)
    caption.label = label
    caption.storage_key = storage_key
    caption.sha256 = sha256
    caption.bytes = size
    caption.cues = cues
    await session.flush()
    return caption, created


async def delete_caption(session: AsyncSession, caption: Caption) -> None:
    await session.delete(caption)
    await session.flush()
