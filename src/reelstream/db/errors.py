"""Database errors.

ReelstreamError
└── DatabaseError
    └── DatabaseUnavailable  the database (primary, or replica for reads) cannot be reached,
                             refuses connections, or is read-only; carries ``Retry-After``

``Database.transaction()`` and ``Database.read()`` translate driver errors (asyncpg, aiosqlite,
SQLAlchemy, socket errors and timeouts while connecting) into ``DatabaseUnavailable`` at the
boundary, so no caller ever sees a driver exception for an outage.
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError

RETRY_AFTER_S = 5


class DatabaseError(ReelstreamError):
    code = "database_error"


class DatabaseUnavailable(DatabaseError):
    """The database cannot serve this request now; retrying later is expected to work."""

    code = "database_unavailable"
    status = 503

    def __init__(self, message: str, *, retry_after_s: int = RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers for the 503 answer."""
        return {"Retry-After": str(self.retry_after_s)}
