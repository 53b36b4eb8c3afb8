"""Fixtures of the video tests: ``cache`` is every cache backend (the cache tests' fixture)."""

from __future__ import annotations

from tests.cache.conftest import cache as cache
