"""Migration 0005_webhooks on SQLite and PostgreSQL: matches the models, downgrades cleanly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from reelstream.db.base import Base
from reelstream.db.migrate import alembic_config, upgrade

TABLES = {"webhook_endpoints", "webhook_events", "webhook_deliveries"}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}"


def _touches_ours(diff: Any) -> bool:
    text = repr(diff)
    return any(t in text for t in TABLES)


async def inspect(url: str) -> tuple[set[str], list[Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def run(c: sa.Connection) -> tuple[set[str], list[Any]]:
                tables = set(sa.inspect(c).get_table_names())
                ctx = MigrationContext.configure(c, opts={"compare_type": True})
                diffs = [d for d in compare_metadata(ctx, Base.metadata) if _touches_ours(d)]
                return tables, diffs

            return await conn.run_sync(run)
    finally:
        await engine.dispose()


def test_migration_matches_the_models_and_downgrades(database_url: str) -> None:
    upgrade(database_url)
    tables, diffs = anyio.run(inspect, database_url)
    assert tables >= TABLES
    assert diffs == []
    command.downgrade(alembic_config(database_url), "0004_accounts")
    tables, _ = anyio.run(inspect, database_url)
    assert not tables & TABLES and "videos" in tables
    upgrade(database_url)
    assert anyio.run(inspect, database_url)[0] >= TABLES
