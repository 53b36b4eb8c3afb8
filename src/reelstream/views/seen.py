"""Which viewers were already counted: the dedupe of view beacons.

A view counts once per (video, client address) per ``views_dedupe_window_s``, whatever
``session`` the beacon names (a client chooses its session ids, so they cannot be the key).
The key is ``{video id}:{digest of the address}``: addresses are never stored as such.

* ``Seen``: the interface: ``first(key)`` is True the first time ``key`` is seen within the
  window, False after, None when the backend cannot tell now;
* ``MemorySeen``: this process only, bounded (the oldest keys are forgotten first); always
  used, and the answer when there is no shared backend or it is down;
* ``RedisSeen``: shared by every api instance (``SET key 1 NX PX window``), behind the circuit
  breaker of the Redis cache: an outage answers None (the memory answer then counts) and costs
  one short timeout per breaker period.

``create_shared_seen`` builds the shared one when ``redis_url`` is set.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from reelstream.cache.redis import CircuitBreaker, fail_fast_client
from reelstream.config import Settings

log = logging.getLogger(__name__)

MAX_SEEN = 200_000  # bound on remembered keys per process (oldest forgotten first)
KEY_PREFIX = "reelstream:views:seen:"
TIMEOUT_S = 0.25
BREAKER_S = 5.0


def seen_key(video_id: str, client: str) -> str:
    """The dedupe key of ``client`` (an address) watching ``video_id``."""
    digest = hashlib.sha256(client.encode()).hexdigest()[:32]
    return f"{video_id}:{digest}"


class Seen(ABC):
    @abstractmethod
    async def first(self, key: str) -> bool | None:
        """True the first time ``key`` is seen within the window (and remember it), False
        when it was seen already, None when this backend cannot tell now."""

    async def close(self) -> None:
        """Release connections (backends that hold any)."""
        return None


class MemorySeen(Seen):
    def __init__(self, window_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[str, float] = {}  # insertion order is age order

    async def first(self, key: str) -> bool:
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen < self.window_s:
            return False
        self._seen.pop(key, None)  # re-insert: dict order stays the age order
        self._seen[key] = now
        if len(self._seen) > MAX_SEEN:
            del self._seen[next(iter(self._seen))]
        return True

    def forget_old(self) -> None:
        """Drop keys older than the window."""
        horizon = self._clock() - self.window_s
        while self._seen:
            key = next(iter(self._seen))
            if self._seen[key] >= horizon:
                break
            del self._seen[key]


class RedisSeen(Seen):
    def __init__(self, url: str, window_s: float, *, timeout_s: float = TIMEOUT_S) -> None:
        self.window_s = window_s
        self._client = fail_fast_client(url, timeout_s)
        self._deadline_s = 2 * timeout_s
        self.breaker = CircuitBreaker(BREAKER_S)

    async def first(self, key: str) -> bool | None:
        if self.window_s <= 0:
            return True
        if not self.breaker.allow():
            return None
        settled = False
        try:
            async with asyncio.timeout(self._deadline_s):
                stored = await self._client.set(
                    KEY_PREFIX + key, b"1", px=max(1, round(self.window_s * 1000)), nx=True
                )
            settled = True
        except Exception as exc:  # an accelerator: never fail a beacon
            settled = True
            if self.breaker.failed():
                log.warning(
                    "view dedupe: Redis unavailable (%s); deduplicating per process for %.0f s",
                    str(exc) or type(exc).__name__,
                    self.breaker.period_s,
                )
            return None
        finally:
            if not settled:
                self.breaker.abandoned()
        if self.breaker.succeeded():
            log.info("view dedupe: Redis reachable again")
        return stored is True

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except Exception as exc:
            log.debug("closing the view-dedupe Redis client: %s", exc)


def create_shared_seen(settings: Settings) -> Seen | None:
    """The dedupe shared by every instance: Redis when ``redis_url`` is set, else None."""
    if settings.redis_url:
        return RedisSeen(settings.redis_url, settings.views_dedupe_window_s)
    return None
