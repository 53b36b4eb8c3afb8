"""The migrations create the schema with native types, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from reelstream.db.migrate import alembic_config
from reelstream.services import Services


async def test_migrations_create_the_schema_with_native_types(services: Services) -> None:
    async with services.db.read() as s:
        conn = await s.connection()
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        columns = await conn.run_sync(
            lambda c: {col["name"]: col["type"] for col in inspect(c).get_columns("videos")}
        )
        version = (await s.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    assert {"videos", "renditions", "uploads", "jobs", "alembic_version"} <= tables
    head = ScriptDirectory.from_config(alembic_config(services.db.url)).get_current_head()
    assert version == head
    if not services.db.is_sqlite:
        # Real PostgreSQL types: timestamptz, json, boolean.
        assert getattr(columns["created_at"], "timezone", None) is True
        assert type(columns["probe"]).__name__ == "JSON"
        assert type(columns["has_audio"]).__name__ == "BOOLEAN"
