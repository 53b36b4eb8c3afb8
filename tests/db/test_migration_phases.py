"""Expand/contract migrations (``reelstream migrate --phase``) on SQLite and PostgreSQL: the
expand phase stops below the contract migrations and leaves rows of the previous release
valid (``videos.description`` NULL), the contract phase backfills and tightens, and a role's
automatic upgrade leaves a database alone that a newer release migrated further."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.util import CommandError
from sqlalchemy.ext.asyncio import create_async_engine

from reelstream.db.migrate import (
    CONTRACT_REVISIONS,
    alembic_config,
    current_revisions,
    upgrade,
)

EXPAND = "0008_video_description"
CONTRACT = "0009_video_description_contract"
HEAD = "0010_qoe_sessions"  # an expand migration above the contract: applied once it ran


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'phases.db'}"


def sql(url: str, statement: str, **params: Any) -> list[Any]:
    """Run one statement in its own transaction; the rows it returned (if any)."""

    async def go() -> list[Any]:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(sa.text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return anyio.run(go)


def description_column(url: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                columns = await conn.run_sync(lambda c: sa.inspect(c).get_columns("videos"))
        finally:
            await engine.dispose()
        return next(dict(c) for c in columns if c["name"] == "description")

    return anyio.run(go)


def insert_as_previous_release(url: str, video_id: str) -> None:
    """A row as code that does not know ``description`` writes it (the column not named)."""
    now = dt.datetime.now(dt.UTC)
    sql(
        url,
        "INSERT INTO videos (id, title, filename, visibility, status, created_at, updated_at)"
        " VALUES (:id, 't', 'f.mp4', 'public', 'ready', :now, :now)",
        id=video_id,
        now=now,
    )


def descriptions(url: str) -> dict[str, str | None]:
    return {r[0]: r[1] for r in sql(url, "SELECT id, description FROM videos")}


@pytest.mark.timeout(120)
def test_expand_then_contract(database_url: str) -> None:
    assert CONTRACT in CONTRACT_REVISIONS
    upgrade(database_url, "expand")
    assert current_revisions(database_url) == {EXPAND}
    assert description_column(database_url)["nullable"] is True
    insert_as_previous_release(database_url, "old0000000000001")
    assert descriptions(database_url) == {"old0000000000001": None}
    upgrade(database_url, "expand")  # again: nothing to do
    assert current_revisions(database_url) == {EXPAND}

    upgrade(database_url, "contract")
    assert current_revisions(database_url) == {HEAD}
    assert description_column(database_url)["nullable"] is False
    assert descriptions(database_url) == {"old0000000000001": ""}, "backfilled"
    insert_as_previous_release(database_url, "old0000000000002")
    assert descriptions(database_url)["old0000000000002"] == "", "the server default"
    with pytest.raises(sa.exc.IntegrityError):
        sql(database_url, "UPDATE videos SET description = NULL")
    upgrade(database_url, "expand")  # after the contract: still nothing to do
    assert current_revisions(database_url) == {HEAD}


@pytest.mark.timeout(60)
def test_expand_applies_what_sits_above_a_contract_that_ran(tmp_path: Path) -> None:
    """A database contracted by ``reelstream migrate`` (at the contract): a role's expand then
    applies the expand migrations written above it (they waited for the contract only)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'above.db'}"
    upgrade(url, "expand")
    assert current_revisions(url) == {EXPAND}
    command.upgrade(alembic_config(url), CONTRACT)
    upgrade(url, "expand")
    assert current_revisions(url) == {HEAD}


@pytest.mark.timeout(120)
def test_a_role_leaves_a_newer_schema_alone(database_url: str) -> None:
    upgrade(database_url, "all")
    sql(database_url, "UPDATE alembic_version SET version_num = '0099_from_the_future'")
    upgrade(database_url, "expand", tolerate_newer=True)  # the previous release still starts
    assert current_revisions(database_url) == {"0099_from_the_future"}
    with pytest.raises(CommandError):
        upgrade(database_url, "all")  # an explicit migrate says what is wrong


@pytest.mark.timeout(60)
def test_migration_runs_on_postgresql_wait_for_each_other(pg_url: str) -> None:
    """Roles that start together migrate one after the other: a run waits while another holds
    the migration lock, then finds the work done or does it."""
    import threading
    import time

    from reelstream.db.migrate import MIGRATION_LOCK

    async def hold_lock_then(release: threading.Event) -> None:
        engine = create_async_engine(pg_url)
        try:
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
                held.set()
                await anyio.to_thread.run_sync(release.wait)
                await conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
        finally:
            await engine.dispose()

    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=anyio.run, args=(hold_lock_then, release), daemon=True)
    holder.start()
    try:
        assert held.wait(20)
        migrator = threading.Thread(target=upgrade, args=(pg_url,), daemon=True)
        migrator.start()
        time.sleep(1.5)  # a run that ignored the lock would have created the schema by now
        assert migrator.is_alive()
        assert current_revisions(pg_url) == set()
    finally:
        release.set()
    migrator.join(40)
    holder.join(10)
    assert not migrator.is_alive()
    assert current_revisions(pg_url) == {HEAD}
