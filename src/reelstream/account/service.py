"""What a user does to their own account, shared by the API (``reelstream.account.routes``) and
the account page (``reelstream.web.account_page``): change the password (which ends their other
sessions), list their signed-in browsers, sign one out or every other one.

"Other" is relative to the caller's session: through an access token there is no current
session, so a password change or "sign out everywhere else" ends all of them. Access tokens are
separate credentials and survive a password change (revoke them on the account page).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reelstream.auth import accounts, sessions
from reelstream.auth.deps import Principal
from reelstream.auth.errors import SessionNotFound

if TYPE_CHECKING:
    from reelstream.services import Services


@dataclass(frozen=True)
class SessionView:
    """One signed-in browser, by its opaque id (never the cookie nor its stored hash)."""

    id: str
    created_at: dt.datetime
    expires_at: dt.datetime
    current: bool


async def change_password(services: Services, user: Principal, current: str, new: str) -> int:
    """Change the caller's password and end their other sessions; how many ended."""
    async with services.db.transaction() as s:
        await accounts.change_password(s, user.id, current, new)
        return await sessions.end_user_sessions(s, user.id, keep_cookie=user.session_cookie)


async def list_sessions(services: Services, user: Principal) -> list[SessionView]:
    current = sessions.current_session_id(user.session_cookie)
    async with services.db.read(primary=True) as s:
        rows = await sessions.list_sessions(s, user.id)
    views = [
        SessionView(
            id=(sid := sessions.session_id(w.token_hash)),
            created_at=w.created_at,
            expires_at=w.expires_at,
            current=sid == current,
        )
        for w in rows
    ]
    return sorted(views, key=lambda v: not v.current)  # this browser first


async def end_session(services: Services, user: Principal, session_id: str) -> None:
    """Sign out one of the caller's sessions (their current one too, if they ask)."""
    if len(session_id) > 64:
        raise SessionNotFound("no session of yours has that id")
    async with services.db.transaction() as s:
        if not await sessions.end_session_by_id(s, user.id, session_id):
            raise SessionNotFound("no session of yours has that id (it may have ended already)")


async def end_other_sessions(services: Services, user: Principal) -> int:
    """Sign out every session of the caller but the current one; how many ended."""
    async with services.db.transaction() as s:
        return await sessions.end_user_sessions(s, user.id, keep_cookie=user.session_cookie)
