from __future__ import annotations

from collections.abc import Iterator

import pytest

from reelstream.config import Settings
from reelstream.services import Services
from tests.webhooks.receiver import Receiver, run_receiver

WEBHOOK_SETTINGS = {
    "webhook_allow_private": True,  # the receiver is on 127.0.0.1
    "webhook_retry_base_s": 0.2,
    "webhook_retry_max_s": 0.4,
    "webhook_retry_window_s": 120,
    "webhook_poll_interval_s": 0.05,
    "webhook_timeout_s": 5,
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The common test settings with small webhook backoffs."""
    return settings.model_copy(update=WEBHOOK_SETTINGS)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with run_receiver() as r:
        yield r


@pytest.fixture
def services(db_services: Services) -> Services:
    """Services on each database backend (``db_services``): every test runs on both."""
    return db_services
