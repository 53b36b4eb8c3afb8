from __future__ import annotations

import pytest

from reelstream.config import Settings


@pytest.fixture(params=["local", "memory"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Every origin test runs on the local store (FileResponse) and the memory store (stream)."""
    settings.storage_backend = request.param
    return settings
