"""Users: creation (sign-up, CLI, development bootstrap), password login and password changes.

Usernames are unique case-insensitively (``users.username_key`` is the lower-cased name) and
keep the spelling they were created with. Hashing runs in a worker thread: argon2id is
deliberately slow and must not block the event loop.

A disabled user cannot sign in: with the right password they are told the account is disabled
(with a wrong one, the same "wrong username or password" as anyone), and their sessions and
access tokens stop working (``sessions.resolve_session``, ``tokens_api.resolve_token``).
"""

from __future__ import annotations

import re

import anyio.to_thread
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.auth.errors import (
    InvalidAccountInput,
    InvalidCredentials,
    UsernameTaken,
    WrongPassword,
)
from reelstream.auth.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    hash_password,
    needs_rehash,
    verify_password,
)
from reelstream.db.models import User
from reelstream.ids import new_id

USERNAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{1,31}\Z")
EMAIL_RE = re.compile(r"\A[^@\s]{1,64}@[^@\s]{1,255}\Z")


def check_username(username: str) -> str:
    username = username.strip()
    if not USERNAME_RE.fullmatch(username):
        raise InvalidAccountInput(
            "a username has 2 to 32 characters: letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return username


def check_password(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidAccountInput(
            f"a password has at least {MIN_LENGTH} and at most {MAX_LENGTH} characters"
        )


async def find_user(session: AsyncSession, username: str) -> User | None:
    stmt = select(User).where(User.username_key == username.strip().lower())
    return (await session.execute(stmt)).scalar_one_or_none()


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def create_user(
    session: AsyncSession,
    username: str,
    password: str | None,
    *,
    email: str | None = None,
    is_admin: bool = False,
) -> User:
    """A new user; ``password`` None makes a token-only account (no web login)."""
    username = check_username(username)
    if password is not None:
        check_password(password)
    if email is not None:
        email = email.strip() or None
        if email is not None and not EMAIL_RE.fullmatch(email):
            raise InvalidAccountInput("that email address is not valid")
    if await find_user(session, username) is not None:
        raise UsernameTaken(f"the username {username!r} is taken")
    password_hash = None
    if password is not None:
        password_hash = await anyio.to_thread.run_sync(hash_password, password)
    user = User(
        id=new_id(),
        username=username,
        username_key=username.lower(),
        email=email,
        password_hash=password_hash,
        is_admin=is_admin,
    )
    session.add(user)
    await session.flush()
    return user


async def authenticate(session: AsyncSession, username: str, password: str) -> User:
    """The user whose password this is; the same error for every kind of failure."""
    user = await find_user(session, username)
    stored = None if user is None else user.password_hash
    ok = await anyio.to_thread.run_sync(verify_password, stored, password)
    if not ok or user is None:
        raise InvalidCredentials("wrong username or password")
    if user.disabled:
        raise InvalidCredentials("this account is disabled: ask an administrator")
    assert user.password_hash is not None
    if needs_rehash(user.password_hash):
        user.password_hash = await anyio.to_thread.run_sync(hash_password, password)
        await session.flush()
    return user


async def set_password(session: AsyncSession, user: User, password: str) -> None:
    """Give ``user`` a new password (checked like a sign-up's); ends no session by itself."""
    check_password(password)
    user.password_hash = await anyio.to_thread.run_sync(hash_password, password)
    await session.flush()


async def change_password(session: AsyncSession, user_id: str, current: str, new: str) -> User:
    """The user's own change: ``current`` must be their password (``WrongPassword``, 403),
    ``new`` a valid one (``InvalidAccountInput``, 422, the sign-up's reason)."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise InvalidCredentials("the signed-in user no longer exists")
    check_password(new)
    ok = await anyio.to_thread.run_sync(verify_password, user.password_hash, current)
    if not ok:
        if user.password_hash is None:
            raise WrongPassword("this account has no password (access tokens only)")
        raise WrongPassword("the current password is wrong")
    await set_password(session, user, new)
    return user
