"""Password hashing with argon2id (argon2-cffi). The parameters are stored in each hash
(``$argon2id$v=19$m=...,t=...,p=...``), so they can be raised later: a login with an older
hash re-hashes the password (``needs_rehash``)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 1024

# RFC 9106's second recommended option: 64 MiB, 3 passes, 4 lanes.
TIME_COST = 3
MEMORY_COST_KIB = 64 * 1024
PARALLELISM = 4


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher(
        time_cost=TIME_COST,
        memory_cost=MEMORY_COST_KIB,
        parallelism=PARALLELISM,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


@functools.cache
def _dummy_hash() -> str:
    return _hasher().hash("reelstream-no-such-user")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches. With no hash (unknown user, token-only account) a dummy
    hash is verified anyway, so the answer takes as long either way."""
    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and (
            password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)
