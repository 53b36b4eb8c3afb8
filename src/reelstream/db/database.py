"""Engines and sessions.

Two session factories: ``read()`` for queries and ``transaction()`` for writes. On SQLite the
writer begins with ``BEGIN IMMEDIATE`` so concurrent writers (API, in-process workers, separate
worker processes) queue on the busy timeout instead of failing on lock upgrade; readers never
block in WAL mode. On PostgreSQL the reader can point at a streaming replica.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    def __init__(
        self,
        url: str,
        replica_url: str | None = None,
        *,
        pool_size: int = 10,
        timeout_s: float = 5,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.timeout_s = timeout_s
        if self.is_sqlite:
            self.writer = _sqlite_engine(url, immediate=True)
            self.reader = _sqlite_engine(url, immediate=False)
        else:
            self.writer = create_async_engine(url, pool_pre_ping=True, pool_size=pool_size)
            self.reader = (
                create_async_engine(replica_url, pool_pre_ping=True, pool_size=pool_size)
                if replica_url
                else self.writer
            )
        self._write_sessions = async_sessionmaker(self.writer, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.reader, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed when the block ends, rolled back on an exception."""
        async with self._write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read_sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.read() as s:
            await s.connection()
            await s.execute(_select_one())

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def _select_one() -> Any:
    from sqlalchemy import text

    return text("SELECT 1")
