from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from reelstream.config import Settings
from reelstream.db.migrate import upgrade
from reelstream.services import Services, build_services


@pytest.fixture
async def services(db_settings: Settings) -> AsyncIterator[Services]:
    """Services on each database backend (SQLite, then PostgreSQL), schema migrated."""
    db_settings.prepare()
    await asyncio.to_thread(upgrade, db_settings.resolved_database_url)
    svc = build_services(db_settings)
    yield svc
    await svc.close()
