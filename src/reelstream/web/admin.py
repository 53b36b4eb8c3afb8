"""The admin page (``/admin``) and its two forms.

The page shows jobs (counts by state and the newest ones), failed jobs with a Retry button,
ready videos published without some renditions (with a Retry of those renditions), the
workers registry (last heartbeat, stale and stopped markers) and bytes per user with their
quota and an override form. The forms post to ``/admin/jobs/{id}/retry``,
``/admin/videos/{id}/renditions/retry`` and ``/admin/users/{id}/quota`` with the session's
CSRF token (checked by ``reelstream.auth.deps``)
and redirect back to ``/admin`` with a notice; a refused change re-renders the page with the
reason. Anonymous visitors are sent to ``/login``; signed-in non-admins get a 403 page.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from reelstream.admin import service
from reelstream.admin.errors import AdminError
from reelstream.admin.schemas import MAX_QUOTA_BYTES
from reelstream.auth.deps import Principal, ReadUser, form_value, read_form
from reelstream.auth.errors import Forbidden
from reelstream.formatting import human_bytes
from reelstream.http.deps import ServicesDep
from reelstream.processing.errors import NothingToRetry
from reelstream.processing.timeline import rendition_label
from reelstream.queue import workers as registry
from reelstream.videos.errors import VideoNotFound
from reelstream.web.render import page_context, render

if TYPE_CHECKING:
    from reelstream.services import Services

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

RECENT_JOBS = 25
FAILED_JOBS = 50
JobId = Annotated[int, Path(ge=1, le=service.MAX_JOB_ID)]
UserId = Annotated[str, Path(min_length=1, max_length=64)]
VideoId = Annotated[str, Path(min_length=1, max_length=64)]

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


class InvalidSize(ValueError):
    """A quota the form could not read; the message says what is accepted."""


def parse_size(text: str) -> int | None:
    """The quota form's value: empty or ``default`` -> None (the default), ``unlimited`` ->
    0, else a size: bytes, or a number with a unit (``500 MiB``, ``2 GiB``, ``1.5 GB``)."""
    value = text.strip().lower()
    if value in ("", "default"):
        return None
    if value == "unlimited":
        return 0
    match = _SIZE_RE.match(value)
    unit = _UNITS.get(match.group(2)) if match else None
    if match is None or unit is None:
        raise InvalidSize(
            f"{text.strip()[:40]!r} is not a size: give bytes or a number with B, KB, MB, GB, "
            "TB, KiB, MiB, GiB or TiB (0 or 'unlimited': no quota; empty: the default)"
        )
    number = Decimal(match.group(1))
    size = int(number * unit)
    if (unit == 1 and size != number) or (size == 0 and number != 0):
        raise InvalidSize(f"{text.strip()[:40]!r} is not a whole number of bytes")
    if size > MAX_QUOTA_BYTES:
        raise InvalidSize("that quota is larger than the server can store")
    return size


def quota_text(override: int | None) -> str:
    """An override as the form shows it: one ``parse_size`` reads back to the same bytes."""
    if override is None:
        return ""
    if override == 0:
        return "unlimited"
    short = human_bytes(override)
    return short if parse_size(short) == override else str(override)


def format_age(seconds: float) -> str:
    """``4.2`` -> ``4 s ago``; ``150`` -> ``2 min ago``; ``7300`` -> ``2 h ago``."""
    s = int(seconds)
    if s < 120:
        return f"{s} s ago"
    if s < 2 * 3600:
        return f"{s // 60} min ago"
    if s < 2 * 86400:
        return f"{s // 3600} h ago"
    return f"{s // 86400} d ago"


def admins_only(services: Services, user: Principal, exc: Forbidden) -> Response:
    """The 403 page of an admin page refused to ``user`` (also for ``web.admin_users``)."""
    return render(
        "error.html",
        403,
        heading="Admins only",
        message=exc.message,
        **page_context(services, user),
    )


def _admin_or_403(services: Services, user: Principal) -> Response | None:
    """None for an admin acting as one; otherwise the 403 page to answer with."""
    try:
        service.require_admin(user)
    except Forbidden as exc:
        return admins_only(services, user, exc)
    return None


def _notice(request: Request, users: list[Any]) -> str | None:
    """The message a form's redirect asked for (``?notice=...``), if it makes sense."""
    q = request.query_params
    if q.get("notice") == "retried" and (q.get("job") or "").isdigit():
        new = q.get("new") or ""
        return f"Job {q['job']} was re-queued" + (f" as job {new}." if new.isdigit() else ".")
    if q.get("notice") == "renditions" and (q.get("new") or "").isdigit():
        return f"The failed renditions were queued again as job {q['new']}."
    if q.get("notice") == "quota":
        for u in users:
            if u.user_id == q.get("user"):
                return f"The quota of {u.username} is now " + (
                    "unlimited." if u.quota_bytes is None else f"{human_bytes(u.quota_bytes)}."
                )
    return None


async def _page(
    request: Request,
    services: Services,
    user: Principal,
    status: int = 200,
    error: str | None = None,
) -> Response:
    heartbeat_s = services.settings.heartbeat_s
    async with services.db.read(primary=True) as s:
        counts = await service.job_counts(s)
        recent, _ = await service.list_jobs(s, cursors=services.cursors, limit=RECENT_JOBS)
        failed, more_failed = await service.list_jobs(
            s, cursors=services.cursors, state="failed", limit=FAILED_JOBS
        )
        superseded = await service.newer_jobs(s, failed)
        degraded = await service.degraded_videos(s, services, FAILED_JOBS)
        workers = await registry.list_workers(s, heartbeat_s)
        users = await service.users_usage(s, services)
    return render(
        "admin.html",
        status,
        page="admin",
        counts=counts,
        total_jobs=sum(counts.values()),
        recent=recent,
        failed=failed,
        more_failed=more_failed is not None,
        superseded=superseded,
        degraded=degraded,
        rendition_label=rendition_label,
        workers=workers,
        stale_after_s=registry.stale_after_s(heartbeat_s),
        users=users,
        total_bytes=sum(u.used_bytes for u in users),
        default_quota=services.settings.default_quota_bytes,
        notice=None if error else _notice(request, users),
        error=error,
        human_bytes=human_bytes,
        format_age=format_age,
        quota_text=quota_text,
        **page_context(services, user),
    )


def _back(**params: str | int) -> RedirectResponse:
    anchor = {
        "retried": "#failed-jobs",
        "renditions": "#degraded-videos",
        "quota": "#storage",
    }.get(str(params.get("notice")), "")
    return RedirectResponse(f"/admin?{urlencode(params)}{anchor}", status_code=303)


@router.get("/admin", name="admin")
async def admin_page(request: Request, services: ServicesDep, user: ReadUser) -> Response:
    return _admin_or_403(services, user) or await _page(request, services, user)


async def _retry(
    request: Request,
    services: Services,
    user: Principal,
    retry: Callable[[], Awaitable[Response]],
) -> Response:
    """Run a Retry button's action as an admin; a refusal (409 nothing to retry, 404 unknown
    job or video) re-renders the page with the reason and the status of the error table."""
    if (denied := _admin_or_403(services, user)) is not None:
        return denied
    try:
        return await retry()
    except (NothingToRetry, AdminError, VideoNotFound) as exc:
        return await _page(request, services, user, exc.status, error=exc.message)


@router.post("/admin/jobs/{job_id}/retry")
async def retry_job(
    job_id: JobId, request: Request, services: ServicesDep, user: ReadUser
) -> Response:
    """The Retry button of a failed job."""

    async def retry() -> Response:
        new = await service.retry(services, job_id)
        return _back(notice="retried", job=job_id, new=new.id)

    return await _retry(request, services, user, retry)


@router.post("/admin/videos/{video_id}/renditions/retry")
async def retry_renditions(
    video_id: VideoId, request: Request, services: ServicesDep, user: ReadUser
) -> Response:
    """The Retry button of a video published without some renditions."""

    async def retry() -> Response:
        new = await service.retry_failed_renditions(services, video_id)
        return _back(notice="renditions", video=video_id, new=new.id)

    return await _retry(request, services, user, retry)


@router.post("/admin/users/{user_id}/quota")
async def set_quota(
    user_id: UserId, request: Request, services: ServicesDep, user: ReadUser
) -> Response:
    """The quota override form of one user (field ``quota``)."""
    if (denied := _admin_or_403(services, user)) is not None:
        return denied
    form = await read_form(request)
    try:
        quota = parse_size(form_value(form, "quota"))
        await service.set_quota(services, user_id, quota)
    except InvalidSize as exc:
        return await _page(request, services, user, 422, error=str(exc))
    except AdminError as exc:
        return await _page(request, services, user, 404, error=exc.message)
    return _back(notice="quota", user=user_id)
