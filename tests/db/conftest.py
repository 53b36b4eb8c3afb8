from __future__ import annotations

import pytest

from reelstream.services import Services


@pytest.fixture
def services(db_services: Services) -> Services:
    """Services on each database backend (``db_services``): every test runs on both."""
    return db_services
