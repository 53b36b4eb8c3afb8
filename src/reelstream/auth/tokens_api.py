"""Personal access tokens (``Authorization: Bearer rs_...``).

A token is ``rs_`` + 43 random URL-safe characters (256 bits); only its sha256 is stored, so
it is shown once, at creation. Scopes: ``read`` (see what the user may see), ``write``
(upload, edit, delete the user's videos; implies read), ``admin`` (act as an admin when the
user is one; implies write). Revoked tokens stop working at once. ``last_used_at`` is updated
at most once a minute per token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.auth.errors import AccessTokenNotFound, InvalidAccountInput
from reelstream.db import Database
from reelstream.db.base import utcnow
from reelstream.db.errors import DatabaseUnavailable
from reelstream.db.models import SCOPES, AccessToken, User
from reelstream.ids import is_valid_id, new_id

log = logging.getLogger(__name__)

PREFIX = "rs_"
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)
IMPLIED: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "write": frozenset({"read", "write"}),
    "admin": frozenset({"read", "write", "admin"}),
}
ALL_SCOPES = IMPLIED["admin"]


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = sorted({s.strip() for s in scopes if s.strip()}, key=SCOPES.index)
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        raise InvalidAccountInput(f"scopes must be some of {', '.join(SCOPES)}")
    return chosen


def effective_scopes(scopes: str) -> frozenset[str]:
    out: set[str] = set()
    for s in scopes.split():
        out |= IMPLIED.get(s, frozenset())
    return frozenset(out)


async def create_token(
    session: AsyncSession,
    user: User,
    name: str,
    scopes: Iterable[str],
    *,
    plain: str | None = None,
) -> tuple[str, AccessToken]:
    """A new token: returns the plain token (show it once) and its row. ``plain``: the token
    to store, ``rs_`` + 43 URL-safe characters made by the caller (the account page derives
    it so that it can show it after a redirect, ``reelstream.web.flash``); None: a random one."""
    if plain is not None and not re.fullmatch(r"rs_[A-Za-z0-9_-]{43}", plain):
        raise ValueError("an access token is rs_ and 43 URL-safe characters")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidAccountInput("a token name has 1 to 100 characters")
    chosen = parse_scopes(scopes)
    if "admin" in chosen and not user.is_admin:
        raise InvalidAccountInput("only admins can create tokens with the admin scope")
    plain = plain or new_token()
    row = AccessToken(
        id=new_id(),
        user_id=user.id,
        name=name,
        token_hash=token_hash(plain),
        scopes=" ".join(chosen),
    )
    session.add(row)
    await session.flush()
    return plain, row


async def resolve_token(session: AsyncSession, plain: str) -> tuple[User, AccessToken] | None:
    """The live token's user and row, or None (unknown, revoked, or the user is disabled)."""
    if not plain.startswith(PREFIX) or len(plain) > 100:
        return None
    stmt = (
        select(User, AccessToken)
        .join(AccessToken, AccessToken.user_id == User.id)
        .where(AccessToken.token_hash == token_hash(plain))
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    user, token = row
    if token.revoked_at is not None or user.disabled:
        return None
    return user, token


_last_touch: dict[str, float] = {}


async def record_use(db: Database, token: AccessToken) -> None:
    """Set ``last_used_at``, at most once a minute per token. Best effort: a database that
    cannot take the write (primary down) does not fail the request."""
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_GRANULARITY:
        return
    tried = _last_touch.get(token.id)
    if tried is not None and time.monotonic() - tried < LAST_USED_GRANULARITY.total_seconds():
        return
    _last_touch[token.id] = time.monotonic()
    if len(_last_touch) > 10_000:
        _last_touch.clear()
    try:
        async with db.transaction() as s:
            await s.execute(
                update(AccessToken).where(AccessToken.id == token.id).values(last_used_at=now)
            )
    except DatabaseUnavailable:
        log.warning("could not record the use of access token %s", token.id)


async def list_tokens(session: AsyncSession, user_id: str) -> list[AccessToken]:
    stmt = (
        select(AccessToken)
        .where(AccessToken.user_id == user_id)
        .order_by(AccessToken.created_at.desc(), AccessToken.id)
    )
    return list((await session.execute(stmt)).scalars())


async def revoke_token(session: AsyncSession, user_id: str, token_id: str) -> AccessToken:
    token = None
    if is_valid_id(token_id):
        stmt = select(AccessToken).where(AccessToken.id == token_id, AccessToken.user_id == user_id)
        token = (await session.execute(stmt)).scalar_one_or_none()
    if token is None:
        raise AccessTokenNotFound(f"no access token {token_id!r}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()
    return token
