"""The transactional outbox: ``emit`` writes an event in the caller's transaction.

``emit(session, "video.ready", video)`` runs inside the transaction of the state change it
reports, so the event exists if and only if the change committed. It writes one
``webhook_events`` row (the exact JSON body every delivery sends) and, in the same step, one
``webhook_deliveries`` row per endpoint of the video's owner subscribed to the event type: the
fan-out happens at emit time, so the dispatcher only claims due deliveries. A video without an
owner (from before accounts), or an owner without subscribed endpoints, emits nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.base import utcnow
from reelstream.db.models import Video, WebhookDelivery, WebhookEndpoint, WebhookEvent
from reelstream.ids import new_id

EVENT_TYPES = (
    "video.playable",
    "video.ready",
    "video.failed",
    "video.deleted",
    "upload.completed",
)
EVENT_PREFIX = "evt_"


def _iso(when: dt.datetime | None) -> str | None:
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if when else None


def video_data(video: Video) -> dict[str, Any]:
    """The video as events describe it (a snapshot at the state change)."""
    return {
        "id": video.id,
        "title": video.title,
        "status": video.status,
        "error": video.error,
        "visibility": video.visibility,
        "owner_id": video.owner_id,
        "duration_s": video.duration_s,
        "width": video.width,
        "height": video.height,
        "source_bytes": video.source_bytes,
        "created_at": _iso(video.created_at),
        "ready_at": _iso(video.ready_at),
    }


async def emit(
    session: AsyncSession,
    event_type: str,
    video: Video | str,
    *,
    extra: dict[str, Any] | None = None,
) -> str | None:
    """Record ``event_type`` about ``video`` (the row, or its id: loaded in ``session``) in
    the caller's transaction. Returns the event id, or None when nobody is subscribed."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if isinstance(video, str):
        found = await session.get(Video, video)
        if found is None:
            return None
        video = found
    if video.owner_id is None:
        return None
    endpoints = (
        await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.events).where(
                WebhookEndpoint.owner_id == video.owner_id
            )
        )
    ).all()
    targets = [row.id for row in endpoints if event_type in row.events.split()]
    if not targets:
        return None
    now = utcnow()
    event_id = EVENT_PREFIX + new_id()
    data: dict[str, Any] = {"video": video_data(video), **(extra or {})}
    body = json.dumps(
        {"id": event_id, "type": event_type, "created_at": _iso(now), "data": data},
        separators=(",", ":"),
    )
    session.add(
        WebhookEvent(
            id=event_id,
            type=event_type,
            owner_id=video.owner_id,
            video_id=video.id,
            body=body,
            created_at=now,
        )
    )
    await session.flush()  # the event before its deliveries (foreign key)
    session.add_all(
        WebhookDelivery(event_id=event_id, endpoint_id=eid, next_attempt_at=now, created_at=now)
        for eid in targets
    )
    await session.flush()
    return event_id
