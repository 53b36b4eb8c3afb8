"""Migration 0002 (object-store staging columns on ``uploads``) on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from reelstream.db.migrate import alembic_config, upgrade

NEW_COLUMNS = {"multipart_id", "parts", "lock_token", "locked_until"}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}"


async def upload_columns(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: {col["name"] for col in sa.inspect(c).get_columns("uploads")}
            )
    finally:
        await engine.dispose()


def test_0002_upgrades_downgrades_and_upgrades_again(database_url: str) -> None:
    import anyio

    upgrade(database_url)
    assert anyio.run(upload_columns, database_url) >= NEW_COLUMNS
    command.downgrade(alembic_config(database_url), "0001")
    columns = anyio.run(upload_columns, database_url)
    assert not NEW_COLUMNS & columns and {"offset", "length"} <= columns
    upgrade(database_url)
    assert anyio.run(upload_columns, database_url) >= NEW_COLUMNS
