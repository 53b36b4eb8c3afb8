"""The player's beacons: ``POST /api/v1/videos/{id}/views`` and ``.../progress``.

Both accept JSON (``{"session": …, "position_s": …}``) or an
``application/x-www-form-urlencoded`` body, which is what ``navigator.sendBeacon`` sends from
the watch page. sendBeacon cannot set headers, so a signed-in page puts the session's CSRF
token in the body as ``csrf_token`` (the form field ``reelstream.auth.deps`` already accepts);
no endpoint is exempt from CSRF. Access tokens work as everywhere else.

Who may send them: whoever may view the video (policy action ``view``). Anonymous viewers'
views count; only signed-in users get a resume position. Both answer 202: the beacon is
aggregated in memory and written later (``reelstream.views.aggregator``).

A view counts once per client address (as the rate limiter sees it: ``client_ip``) and video
per ``views_dedupe_window_s``; the ``session`` a player sends is checked but never the key,
since a client chooses it. Both beacons are rate limited per address (the ``beacons``
category, mounted with the router in ``reelstream.app``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from reelstream.auth.deps import MAX_FORM_BYTES, CurrentUser, authorize, form_value, read_form
from reelstream.http.deps import ServicesDep
from reelstream.http.schemas import ErrorOut
from reelstream.ratelimit.deps import client_ip
from reelstream.videos.service import load_view
from reelstream.views.aggregator import ViewAggregator
from reelstream.views.errors import InvalidBeacon

router = APIRouter(prefix="/api/v1", tags=["views"])

SESSION_ID = re.compile(r"\A[A-Za-z0-9_-]{8,64}\Z")
MAX_POSITION_S = 7 * 24 * 3600.0


async def get_views(request: Request) -> ViewAggregator:
    views: ViewAggregator = request.app.state.views
    return views


ViewsDep = Annotated[ViewAggregator, Depends(get_views)]


class ViewAccepted(BaseModel):
    counted: bool = Field(
        description="False when this client was already counted for this video in the window"
    )


class ProgressAccepted(BaseModel):
    stored: bool = Field(description="False for anonymous viewers: they have no resume position")


_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such video"},
    422: {"model": ErrorOut, "description": "Missing or bad session / position_s"},
    429: {"model": ErrorOut, "description": "Too many beacons from this address"},
}


async def beacon_fields(request: Request) -> dict[str, Any]:
    """The beacon's fields, from a form or a JSON body (also read by ``reelstream.qoe``)."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        form = await read_form(request)
        return {name: form_value(form, name) for name in form}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidBeacon("the beacon is too large")
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidBeacon("the body must be JSON or a form") from exc
    if not isinstance(data, dict):
        raise InvalidBeacon("the body must be a JSON object")
    return data


def _session(fields: dict[str, Any]) -> str:
    session = fields.get("session")
    if not isinstance(session, str) or not SESSION_ID.fullmatch(session):
        raise InvalidBeacon("session must be the player's session id: 8-64 of A-Z a-z 0-9 _ -")
    return session


def _position(fields: dict[str, Any]) -> float:
    raw = fields.get("position_s")
    try:
        if isinstance(raw, bool) or raw is None:
            raise ValueError(raw)
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidBeacon("position_s must be a number of seconds") from exc
    if not math.isfinite(value) or not 0 <= value <= MAX_POSITION_S:
        raise InvalidBeacon("position_s must be between 0 and the video's length")
    return value


@router.post("/videos/{video_id}/views", status_code=202, responses=_RESPONSES)
async def record_view(
    video_id: str, request: Request, services: ServicesDep, user: CurrentUser, views: ViewsDep
) -> ViewAccepted:
    """A player started playing: count one view per client address and video per window."""
    view = await load_view(services, video_id)
    authorize(user, "view", owner_id=view.owner_id, visibility=view.visibility)
    _session(await beacon_fields(request))
    return ViewAccepted(counted=await views.record_view(view.id, client_ip(request)))


@router.post("/videos/{video_id}/progress", status_code=202, responses=_RESPONSES)
async def record_progress(
    video_id: str, request: Request, services: ServicesDep, user: CurrentUser, views: ViewsDep
) -> ProgressAccepted:
    """Where the player is (``position_s``); the signed-in caller resumes from there."""
    view = await load_view(services, video_id)
    authorize(user, "view", owner_id=view.owner_id, visibility=view.visibility)
    fields = await beacon_fields(request)
    _session(fields)
    position = _position(fields)
    if view.duration_s is not None:
        position = min(position, view.duration_s)
    if user is None:
        return ProgressAccepted(stored=False)
    views.record_position(user.id, view.id, position)
    return ProgressAccepted(stored=True)
