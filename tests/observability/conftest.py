"""Fixtures of the observability tests: the process's logging set-up restored afterwards."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from reelstream.observability.logging import UVICORN_LOGGERS


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Whatever a test configures, the root and uvicorn loggers are as before afterwards."""
    names = ("", *UVICORN_LOGGERS)
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.level, logger.propagate))
    try:
        yield
    finally:
        for logger, handlers, level, propagate in saved:
            for handler in list(logger.handlers):
                if handler not in handlers:
                    logger.removeHandler(handler)
                    handler.close()
            for handler in handlers:
                if handler not in logger.handlers:
                    logger.addHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
