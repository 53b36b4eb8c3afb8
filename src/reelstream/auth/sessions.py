"""Server-side web sessions: the cookie holds a random token, the database its sha256, so any
api instance accepts the cookie and a database leak reveals no usable session. Each session
has its own CSRF token, which pages embed (``<meta name="csrf-token">`` and a hidden
``csrf_token`` form field) and which every unsafe cookie-authenticated request must send.

A user sees and ends their sessions by an opaque id (``session_id``): a hash of the stored hash
under its own label, so neither the id nor anything derived from it works as a cookie, and it
needs no column of its own. Changing a password ends every other session of the user; an admin
disabling a user or resetting their password ends all of them."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.base import utcnow
from reelstream.db.models import User, WebSession

COOKIE_NAME = "rs_session"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    cookie: str
    csrf_token: str
    expires_at: dt.datetime


async def create_session(session: AsyncSession, user_id: str, ttl_s: int) -> NewSession:
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(seconds=ttl_s)
    session.add(
        WebSession(
            token_hash=token_hash(cookie), user_id=user_id, csrf_token=csrf, expires_at=expires
        )
    )
    await session.flush()
    return NewSession(cookie=cookie, csrf_token=csrf, expires_at=expires)


async def resolve_session(session: AsyncSession, cookie: str) -> tuple[User, WebSession] | None:
    """The live session's user, or None (unknown, expired, or the user is disabled)."""
    if not cookie or len(cookie) > 100:
        return None
    stmt = (
        select(User, WebSession)
        .join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.token_hash == token_hash(cookie))
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    user, web = row
    if web.expires_at <= utcnow() or user.disabled:
        return None
    return user, web


async def end_session(session: AsyncSession, cookie: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(cookie)))


async def purge_expired(session: AsyncSession) -> None:
    await session.execute(delete(WebSession).where(WebSession.expires_at <= utcnow()))


def session_id(stored_hash: str) -> str:
    """The opaque id of the session whose stored hash is ``stored_hash`` (not a credential)."""
    return hashlib.sha256(b"reelstream session id\0" + stored_hash.encode()).hexdigest()[:32]


def current_session_id(cookie: str | None) -> str | None:
    return None if not cookie else session_id(token_hash(cookie))


async def list_sessions(session: AsyncSession, user_id: str) -> list[WebSession]:
    """The user's live sessions, newest first."""
    stmt = (
        select(WebSession)
        .where(WebSession.user_id == user_id, WebSession.expires_at > utcnow())
        .order_by(WebSession.created_at.desc())
    )
    return list((await session.execute(stmt)).scalars())


async def end_session_by_id(session: AsyncSession, user_id: str, sid: str) -> bool:
    """End the user's session with the opaque id ``sid``; False when they have none such."""
    for web in await list_sessions(session, user_id):
        if hmac.compare_digest(session_id(web.token_hash), sid):
            await session.delete(web)
            await session.flush()
            return True
    return False


async def end_user_sessions(
    session: AsyncSession, user_id: str, *, keep_cookie: str | None = None
) -> int:
    """End every session of the user but the one of ``keep_cookie``; how many ended."""
    stmt = delete(WebSession).where(WebSession.user_id == user_id)
    if keep_cookie:
        stmt = stmt.where(WebSession.token_hash != token_hash(keep_cookie))
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
