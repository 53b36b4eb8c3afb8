"""The viewer-experience page for admins (``/admin/qoe?window=24h|7d|1h``): the QoE figures of
the window overall and the videos with the highest rebuffer ratio, server-rendered from the
same summary as ``GET /api/v1/admin/qoe`` (``reelstream.qoe.stats``). Anonymous visitors are
sent to ``/login``; signed-in non-admins get the 403 page."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from starlette.responses import HTMLResponse, Response

from reelstream.admin import service
from reelstream.auth.deps import ReadUser
from reelstream.auth.errors import Forbidden
from reelstream.http.deps import ServicesDep
from reelstream.qoe import stats
from reelstream.web.admin import admins_only
from reelstream.web.render import page_context, render

if TYPE_CHECKING:
    from reelstream.qoe.stats import Figures

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f} %"


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def bitrate(bps: float | None) -> str:
    if bps is None:
        return "—"
    return f"{bps / 1e6:.2f} Mbit/s" if bps >= 1e6 else f"{bps / 1e3:.0f} kbit/s"


def rows(f: Figures) -> list[tuple[str, str, str]]:
    """(id, label, value) of each figure, in the page's order."""
    ratio = None if f.rebuffer_ratio is None else 100 * f.rebuffer_ratio
    return [
        ("sessions", "Sessions", str(f.sessions)),
        ("startup-p50", "Startup p50", seconds(f.startup_p50_s)),
        ("startup-p95", "Startup p95", seconds(f.startup_p95_s)),
        ("rebuffer-ratio", "Rebuffer ratio", pct(ratio, 2)),
        ("rebuffers", "Rebuffers", str(f.rebuffer_count)),
        ("watch", "Watch time", f"{f.watch_s / 60:.1f} min"),
        ("failures", "Playback failures", pct(f.failure_pct)),
        ("exits", "Exits before start", pct(f.exits_before_start_pct)),
        ("bitrate", "Average bitrate", bitrate(f.avg_bitrate_bps)),
        ("upscale", "Upscaling", pct(f.upscale_pct)),
        ("switches", "Rendition switches", str(f.switches)),
    ]


@router.get("/admin/qoe", name="admin_qoe")
async def admin_qoe_page(
    services: ServicesDep, user: ReadUser, window: str = "24h", video_id: str | None = None
) -> Response:
    try:
        service.require_admin(user)
    except Forbidden as exc:
        return admins_only(services, user, exc)
    if window not in stats.WINDOWS:
        window = "24h"
    if video_id is not None and not 1 <= len(video_id) <= 64:
        video_id = None
    async with services.db.read() as s:
        summary = await stats.summary(s, window, video_id)
    return render(
        "admin_qoe.html",
        200,
        page="admin",
        summary=summary,
        windows=list(stats.WINDOWS),
        video_id=video_id,
        rows=rows,
        pct=pct,
        bitrate=bitrate,
        seconds=seconds,
        min_watch_min=stats.MIN_WATCH_S / 60,
        **page_context(services, user),
    )
