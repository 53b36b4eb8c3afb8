"""The first admin of a development install.

In development mode (only; and unless ``dev_admin`` is off), a start that finds no user
creates ``admin`` with a random password and logs the credentials once.
``bootstrap_admin_token`` (development only; the tests and the local cluster set it) gives
that admin a personal access token with that exact value, so scripts know a working token
before the server starts. Outside development mode the first admin comes from
``reelstream users create NAME --admin``, and a start without any user logs that command.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from reelstream.auth.accounts import count_users, create_user, find_user
from reelstream.auth.onboarding import first_admin_hint
from reelstream.auth.tokens_api import token_hash
from reelstream.db.models import AccessToken, User
from reelstream.ids import new_id

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)

ADMIN_NAME = "admin"


async def bootstrap_admin(services: Services) -> str | None:
    """Create the development admin when there is no user; returns its password if created.
    Without one (production, or ``dev_admin`` off) and without any user, log how to make the
    first admin (``reelstream.auth.onboarding``)."""
    settings = services.settings
    if not settings.is_development or not settings.dev_admin:
        async with services.db.read(primary=True) as s:
            if await count_users(s) == 0:
                log.warning(first_admin_hint(settings))
        return None
    password: str | None = None
    try:
        async with services.db.transaction() as s:
            if await count_users(s) == 0:
                password = secrets.token_urlsafe(12)
                await create_user(s, ADMIN_NAME, password, is_admin=True)
    except IntegrityError:  # another instance created it at the same moment
        password = None
    if password is not None:
        log.warning(
            "development mode: created the first admin; username %r password %r "
            "(shown once; change it or create your own users)",
            ADMIN_NAME,
            password,
        )
    if settings.bootstrap_admin_token is not None:
        await _ensure_token(services, settings.bootstrap_admin_token.get_secret_value())
    return password


async def _ensure_token(services: Services, plain: str) -> None:
    digest = token_hash(plain)
    try:
        async with services.db.transaction() as s:
            exists = await s.execute(select(AccessToken.id).where(AccessToken.token_hash == digest))
            if exists.first() is not None:
                return
            admin = await find_user(s, ADMIN_NAME)
            if admin is None:
                admin = (
                    await s.execute(select(User).where(User.is_admin.is_(True)).limit(1))
                ).scalar_one_or_none()
            if admin is None:
                return
            s.add(
                AccessToken(
                    id=new_id(),
                    user_id=admin.id,
                    name="bootstrap",
                    token_hash=digest,
                    scopes="admin",
                )
            )
    except IntegrityError:
        pass
