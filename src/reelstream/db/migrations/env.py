"""Alembic environment: runs migrations through the async engine of the configured URL.

On PostgreSQL a run first takes a transaction-scoped advisory lock (``MIGRATION_LOCK``), so
processes that start together (the roles of a rolling upgrade each apply the expand phase)
migrate one after the other: the next reads the schema version only once the first
committed, and finds nothing left to do."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from reelstream.db import models  # noqa: F401  (registers the tables)
from reelstream.db.base import Base
from reelstream.db.database import normalize_url
from reelstream.db.migrate import MIGRATION_LOCK

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
            )
        context.run_migrations()


async def _run_async() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    # The same URL forms as the app (a libpq-style multi-host URL too).
    engine = create_async_engine(normalize_url(url), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
