"""``GET /api/v1/me/usage`` (the caller's bytes and quota) and ``GET /api/v1/admin/usage``
(bytes per user; admins only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from reelstream.auth.deps import ReadUser
from reelstream.auth.errors import Forbidden, NotAuthenticated
from reelstream.db.models import User
from reelstream.http.deps import ServicesDep
from reelstream.quota.usage import Usage, all_usage, user_usage
from reelstream.ratelimit.deps import limit_reads

router = APIRouter(prefix="/api/v1", tags=["usage"], dependencies=[Depends(limit_reads)])


class UsageOut(BaseModel):
    used_bytes: int
    quota_bytes: int | None  # null: unlimited
    videos: int
    uploading_bytes: int


class UserUsageOut(UsageOut):
    user_id: str
    username: str
    is_admin: bool


class AdminUsageOut(BaseModel):
    users: list[UserUsageOut]
    total_bytes: int


def _out(u: Usage) -> UsageOut:
    return UsageOut(
        used_bytes=u.used_bytes,
        quota_bytes=u.quota_bytes,
        videos=u.videos,
        uploading_bytes=u.uploading_bytes,
    )


@router.get("/me/usage", response_model=UsageOut)
async def my_usage(services: ServicesDep, user: ReadUser) -> UsageOut:
    """The caller's storage: sources, every output, captions and unfinished uploads."""
    async with services.db.read(primary=True) as s:
        row = await s.get(User, user.id)
        if row is None:
            raise NotAuthenticated("the signed-in user no longer exists")
        usage = await user_usage(s, row, services.settings.default_quota_bytes)
    return _out(usage)


@router.get("/admin/usage", response_model=AdminUsageOut)
async def admin_usage(services: ServicesDep, user: ReadUser) -> AdminUsageOut:
    """Bytes per user, the biggest first (an admin acting as admin only)."""
    if not user.acts_as_admin:
        raise Forbidden("only admins (with an access token of scope 'admin') may see this")
    async with services.db.read() as s:
        found = await all_usage(s, services.settings.default_quota_bytes)
    users = [
        UserUsageOut(
            user_id=u.user_id, username=u.username, is_admin=u.is_admin, **_out(u).model_dump()
        )
        for u in found
    ]
    return AdminUsageOut(users=users, total_bytes=sum(u.used_bytes for u in found))
