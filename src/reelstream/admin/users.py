"""User management by admins: disable or enable an account, promote to admin or demote, reset a
password. The API (``PATCH /api/v1/admin/users/{id}``, ``POST .../password``) and the admin
users page (``reelstream.web.admin_users``) both call these, so both apply the same rules:

* the caller must be an admin acting as one (``service.require_admin``: 403 otherwise);
* an admin cannot disable, demote or reset the password of themself (``CannotChangeSelf``,
  409: their own password is changed on the account page, with the current one);
* no change may leave the server without an active (enabled) admin (``LastAdmin``, 409). The
  active admins' rows are locked in the change's transaction (``FOR UPDATE`` on PostgreSQL;
  SQLite serializes writers), so two admins demoting each other at once cannot both succeed.

Disabling ends the user's sessions at once; their access tokens stop working while the account
is disabled (``tokens_api.resolve_token`` refuses them) and work again when it is enabled. A
password reset ends all the user's sessions; access tokens are kept.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.admin.errors import CannotChangeSelf, LastAdmin, UserNotFound
from reelstream.admin.service import require_admin
from reelstream.auth import accounts, sessions
from reelstream.auth.deps import Principal
from reelstream.db.models import User
from reelstream.quota.usage import Usage, user_usage

if TYPE_CHECKING:
    from reelstream.services import Services

GENERATED_PASSWORD_BYTES = 15  # 20 URL-safe characters, 120 bits


def generate_password() -> str:
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


async def _target(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id, with_for_update=True) if len(user_id) <= 64 else None
    if user is None:
        raise UserNotFound(f"no user {user_id!r}")
    return user


async def _active_admin_ids(session: AsyncSession) -> set[str]:
    stmt = select(User.id).where(User.is_admin.is_(True), User.disabled.is_(False))
    return set((await session.execute(stmt.with_for_update())).scalars())


async def update_user(
    services: Services,
    actor: Principal,
    user_id: str,
    *,
    disabled: bool | None = None,
    is_admin: bool | None = None,
) -> Usage:
    """Disable/enable and promote/demote ``user_id`` (None: leave as it is); their usage after."""
    require_admin(actor)
    removes_admin = disabled is True or is_admin is False
    if user_id == actor.id and removes_admin:
        what = "disable" if disabled else "demote"
        raise CannotChangeSelf(f"you cannot {what} yourself: ask another admin")
    async with services.db.transaction() as s:
        active = await _active_admin_ids(s)
        user = await _target(s, user_id)
        if removes_admin and user.id in active and active == {user.id}:
            raise LastAdmin(f"{user.username} is the last active admin")
        if disabled is not None and disabled != user.disabled:
            user.disabled = disabled
            if disabled:
                await sessions.end_user_sessions(s, user.id)
        if is_admin is not None:
            user.is_admin = is_admin
        await s.flush()
        return await user_usage(s, user, services.settings.default_quota_bytes)


async def reset_password(
    services: Services, actor: Principal, user_id: str, password: str | None
) -> tuple[User, str | None]:
    """Set ``user_id``'s password (None: generate one) and end their sessions: the user and the
    generated password (None when the admin chose it)."""
    require_admin(actor)
    if user_id == actor.id:
        raise CannotChangeSelf("change your own password on your account page")
    new = generate_password() if password is None else password
    async with services.db.transaction() as s:
        user = await _target(s, user_id)
        await accounts.set_password(s, user, new)
        await sessions.end_user_sessions(s, user.id)
    return user, None if password is not None else new


async def list_users(services: Services, actor: Principal) -> list[User]:
    """Every user, by username (the users page)."""
    require_admin(actor)
    async with services.db.read(primary=True) as s:
        found = (await s.execute(select(User).order_by(User.username_key))).scalars().all()
    return list(found)
