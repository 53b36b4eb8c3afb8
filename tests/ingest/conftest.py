from __future__ import annotations

from collections.abc import AsyncIterator

import anyio.to_thread
import pytest

from reelstream.config import Settings
from reelstream.db.migrate import upgrade
from reelstream.services import Services, build_services


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """The services of one process, schema migrated, used directly (no HTTP)."""
    settings.prepare()
    await anyio.to_thread.run_sync(upgrade, settings.resolved_database_url)
    svc = build_services(settings)
    yield svc
    await svc.close()
