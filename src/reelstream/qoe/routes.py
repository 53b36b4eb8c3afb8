"""The QoE beacon ``POST /api/v1/videos/{id}/qoe`` and ``GET /api/v1/admin/qoe``.

The beacon follows the view and progress beacons' rules (``reelstream.videos.beacons``): a
form body (what ``navigator.sendBeacon`` sends, with the session's CSRF token as
``csrf_token``) or JSON; whoever may view the video may send it; the ``beacons`` rate limit per
address (mounted with the router in ``reelstream.app``); 202 and written in batches
(``reelstream.qoe.collector``). Its fields are the session's cumulative figures
(``reelstream.qoe.report``); every field is checked, a bad one is a 422 naming it.

The admin endpoint needs an admin acting as one, like the rest of ``/api/v1/admin``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from reelstream.admin.routes import AdminUser
from reelstream.auth.deps import CurrentUser, authorize
from reelstream.http.deps import ServicesDep
from reelstream.http.schemas import ErrorOut
from reelstream.qoe import report, stats
from reelstream.qoe.collector import QoeCollector
from reelstream.qoe.schemas import QoeAccepted, QoeSummary, Window
from reelstream.ratelimit.deps import limit_api
from reelstream.videos.beacons import beacon_fields
from reelstream.videos.service import load_view

beacon_router = APIRouter(prefix="/api/v1", tags=["views"])
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(limit_api)])


async def get_collector(request: Request) -> QoeCollector:
    collector: QoeCollector = request.app.state.qoe
    return collector


CollectorDep = Annotated[QoeCollector, Depends(get_collector)]

_BEACON_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such video"},
    422: {"model": ErrorOut, "description": "A missing, mistyped or out-of-bounds field"},
    429: {"model": ErrorOut, "description": "Too many beacons from this address"},
}


@beacon_router.post("/videos/{video_id}/qoe", status_code=202, responses=_BEACON_RESPONSES)
async def record_qoe(
    video_id: str,
    request: Request,
    services: ServicesDep,
    user: CurrentUser,
    collector: CollectorDep,
) -> QoeAccepted:
    """A player session's cumulative QoE figures (startup, rebuffering, bitrate, errors). Sent
    on start, every 30 s while playing and when the page goes away; the server keeps the
    latest per session and counts each session once."""
    view = await load_view(services, video_id)
    authorize(user, "view", owner_id=view.owner_id, visibility=view.visibility)
    fields = await beacon_fields(request)
    session = report.session_id(fields)
    await collector.record(view.id, session, report.parse(fields))
    return QoeAccepted(accepted=True)


@admin_router.get(
    "/qoe",
    responses={
        401: {"description": "Not signed in"},
        403: {"description": "Not an admin acting as one (an access token needs scope 'admin')"},
    },
)
async def qoe_summary(
    services: ServicesDep,
    _: AdminUser,
    window: Window = "24h",
    video_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> QoeSummary:
    """Viewer QoE over ``window``: overall, for ``video_id`` if given, and the videos with the
    highest rebuffer ratio. Definitions: docs/admin.md, "Viewer experience"."""
    async with services.db.read() as s:
        return QoeSummary.of(await stats.summary(s, window, video_id))
