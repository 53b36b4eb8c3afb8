"""The migrations on SQLite and PostgreSQL: at head they match the models exactly (every
table, column, type and index), and they downgrade to nothing and back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from reelstream.db.base import Base
from reelstream.db.migrate import alembic_config, upgrade

TABLES = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}"


async def inspect(url: str) -> tuple[set[str], list[Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def run(c: sa.Connection) -> tuple[set[str], list[Any]]:
                tables = set(sa.inspect(c).get_table_names())
                ctx = MigrationContext.configure(c, opts={"compare_type": True})
                diffs = list(compare_metadata(ctx, Base.metadata))
                return tables, diffs

            return await conn.run_sync(run)
    finally:
        await engine.dispose()


def test_migration_matches_the_models_and_downgrades(database_url: str) -> None:
    upgrade(database_url)
    tables, diffs = anyio.run(inspect, database_url)
    assert tables >= TABLES
    assert diffs == []
    command.downgrade(alembic_config(database_url), "base")
    tables, _ = anyio.run(inspect, database_url)
    assert not tables & TABLES
    upgrade(database_url)
    assert anyio.run(inspect, database_url)[0] >= TABLES


HISTORICAL_DUPLICATES = {"0005"}
"""Numbers used twice before the rule below existed (``0005_views`` and ``0005_webhooks``,
joined by ``0006_merge``); history stays as it is."""


def test_migration_numbers_are_unambiguous() -> None:
    """Every migration file's number prefix is its revision's prefix, and no number is reused
    (so "migration 0008" names one file and the history reads in order)."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    numbers: dict[str, list[str]] = {}
    for rev in scripts.walk_revisions():
        assert rev.path is not None
        match = re.match(r"(\d{4})_", Path(rev.path).name)
        assert match, f"{rev.path}: migration files are named NNNN_what.py"
        assert rev.revision.startswith(match.group(1)), (rev.path, rev.revision)
        numbers.setdefault(match.group(1), []).append(rev.revision)
    reused = {n for n, revs in numbers.items() if len(revs) > 1}
    assert reused == HISTORICAL_DUPLICATES, f"migration numbers used twice: {reused}"
    assert len(scripts.get_heads()) == 1
