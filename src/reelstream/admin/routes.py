"""The admin API (``/api/v1/admin/...``): jobs and their retry, the workers registry, users'
storage and quota overrides, and user management (``reelstream.admin.users``: disable, promote,
reset a password). Every endpoint needs an admin acting as one (a web session of an
admin, or an access token of scope ``admin``): anonymous 401, anyone else 403."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Response

from reelstream.admin import service, users
from reelstream.admin.schemas import (
    DegradedList,
    DegradedOut,
    JobList,
    JobOut,
    JobState,
    PasswordResetIn,
    PasswordResetOut,
    QuotaIn,
    UserList,
    UserOut,
    UserPatch,
    WorkerList,
    WorkerOut,
)
from reelstream.auth.deps import Principal, ReadUser
from reelstream.http.deps import ServicesDep
from reelstream.queue import workers as registry
from reelstream.quota.usage import Usage
from reelstream.ratelimit.deps import limit_api

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(limit_api)])

JobId = Annotated[int, Path(ge=1, le=service.MAX_JOB_ID)]
UserId = Annotated[str, Path(min_length=1, max_length=64)]

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Not signed in"},
    403: {"description": "Not an admin acting as one (an access token needs scope 'admin')"},
}


async def admin_user(user: ReadUser) -> Principal:
    """The caller, who must be an admin acting as one (403 otherwise)."""
    service.require_admin(user)
    return user


AdminUser = Annotated[Principal, Depends(admin_user)]


def _user(u: Usage) -> UserOut:
    return UserOut(
        user_id=u.user_id,
        username=u.username,
        is_admin=u.is_admin,
        used_bytes=u.used_bytes,
        videos=u.videos,
        uploading_bytes=u.uploading_bytes,
        quota_bytes=u.quota_bytes,
        quota_override=u.quota_override,
        disabled=u.disabled,
    )


# -- endpoints ---------------------------------------------------------------------------------


@router.get("/jobs", response_model=JobList, responses=_ERRORS)
async def list_jobs(
    services: ServicesDep,
    _: AdminUser,
    state: JobState | None = None,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> JobList:
    """Jobs, newest first, optionally of one ``state`` and ``kind``."""
    async with services.db.read(primary=True) as s:
        items, nxt = await service.list_jobs(
            s, cursors=services.cursors, state=state, kind=kind, limit=limit, cursor=cursor
        )
        counts = await service.job_counts(s)
    return JobList(items=items, next_cursor=nxt, counts=counts)


@router.post(
    "/jobs/{job_id}/retry",
    response_model=JobOut,
    status_code=202,
    responses={
        **_ERRORS,
        404: {"description": "No such job"},
        409: {"description": "The job has not failed, or its video is busy"},
    },
)
async def retry_job(job_id: JobId, services: ServicesDep, _: AdminUser) -> JobOut:
    """Re-queue a failed job of any kind; answers the new job."""
    return await service.retry(services, job_id)


@router.get("/degraded-videos", response_model=DegradedList, responses=_ERRORS)
async def list_degraded(
    services: ServicesDep,
    _: AdminUser,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DegradedList:
    """Ready videos published without some renditions (each encoded on its own after the ladder
    failed, and still failed), newest first. Retry them with
    ``POST /api/v1/videos/{id}/renditions/{name}/retry``."""
    async with services.db.read(primary=True) as s:
        found = await service.degraded_videos(s, services, limit)
    return DegradedList(videos=[DegradedOut.model_validate(d, from_attributes=True) for d in found])


@router.get("/workers", response_model=WorkerList, responses=_ERRORS)
async def list_workers(services: ServicesDep, _: AdminUser) -> WorkerList:
    """Every registered worker process, with its last heartbeat and a stale flag."""
    heartbeat_s = services.settings.heartbeat_s
    async with services.db.read(primary=True) as s:
        found = await registry.list_workers(s, heartbeat_s)
    return WorkerList(
        workers=[WorkerOut.model_validate({**asdict(w), "state": w.state}) for w in found],
        heartbeat_s=heartbeat_s,
        stale_after_s=registry.stale_after_s(heartbeat_s),
    )


@router.get("/users", response_model=UserList, responses=_ERRORS)
async def list_users(services: ServicesDep, _: AdminUser) -> UserList:
    """Every user with their stored bytes, effective quota and override, the biggest first."""
    async with services.db.read(primary=True) as s:
        found = await service.users_usage(s, services)
    return UserList(
        users=[_user(u) for u in found],
        default_quota_bytes=services.settings.default_quota_bytes,
        total_bytes=sum(u.used_bytes for u in found),
    )


@router.put(
    "/users/{user_id}/quota",
    response_model=UserOut,
    responses={**_ERRORS, 404: {"description": "No such user"}},
)
async def set_quota(user_id: UserId, body: QuotaIn, services: ServicesDep, _: AdminUser) -> UserOut:
    """Override a user's quota (0: unlimited), or with null go back to the default."""
    return _user(await service.set_quota(services, user_id, body.quota_bytes))


_USER_ERRORS: dict[int | str, dict[str, str]] = {
    **_ERRORS,
    404: {"description": "No such user"},
    409: {"description": "Yourself (cannot_change_self), or the last active admin (last_admin)"},
}


@router.patch("/users/{user_id}", response_model=UserOut, responses=_USER_ERRORS)
async def update_user(
    user_id: UserId, body: UserPatch, services: ServicesDep, admin: AdminUser
) -> UserOut:
    """Disable or enable a user (a disabled user cannot sign in; their sessions end and their
    access tokens are refused until enabled again), promote to admin or demote. Not yourself,
    and never the last active admin."""
    return _user(
        await users.update_user(
            services, admin, user_id, disabled=body.disabled, is_admin=body.is_admin
        )
    )


@router.post(
    "/users/{user_id}/password",
    response_model=PasswordResetOut,
    responses={**_USER_ERRORS, 422: {"description": "The password is not valid (the reason)"}},
)
async def reset_password(
    user_id: UserId,
    services: ServicesDep,
    admin: AdminUser,
    response: Response,
    body: Annotated[PasswordResetIn | None, Body()] = None,
) -> PasswordResetOut:
    """Set a user's password, or with no body (or ``password`` null) generate one, answered
    this once. Every session of the user ends; their access tokens are kept."""
    chosen = body.password if body is not None else None
    user, generated = await users.reset_password(services, admin, user_id, chosen)
    response.headers["Cache-Control"] = "no-store"  # a password, once
    return PasswordResetOut(
        user_id=user.id,
        username=user.username,
        password=generated,
        generated=generated is not None,
        sessions_ended=True,
    )
