"""A cache for hot metadata: one interface (``Cache``), one module per backend, chosen by a
setting.

* ``base``: the interface;
* ``null``: no cache (the embedded default, when no Redis is configured);
* ``memory``: in-process with expiry (the fake for unit tests);
* ``redis``: Redis behind a circuit breaker.

``videos`` builds the video metadata cache on top of any of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelstream.cache.base import Cache
from reelstream.cache.memory import MemoryCache
from reelstream.cache.null import NullCache

if TYPE_CHECKING:
    from reelstream.config import Settings
    from reelstream.observability.metrics import Metrics


def create_cache(settings: Settings, metrics: Metrics | None = None) -> Cache:
    """Redis when ``redis_url`` is set, else no cache."""
    if settings.redis_url:
        from reelstream.cache.redis import RedisCache

        return RedisCache(settings.redis_url, metrics=metrics)
    return NullCache()


__all__ = ["Cache", "MemoryCache", "NullCache", "create_cache"]
