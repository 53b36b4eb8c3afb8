"""Wake-ups across processes through Redis pub/sub (channel ``reelstream_jobs``).

``notify()`` wakes this process's workers at once and publishes a message in the background
(fire and forget: it neither blocks nor raises). ``start()`` runs a subscriber task that wakes
the local workers on every message. The subscriber survives Redis restarts: on any error it
drops its connection and reconnects with a capped exponential backoff, and after
reconnecting it wakes the local workers once, in case a message was missed meanwhile.

Redis down costs latency only: workers still poll the queue every ``poll_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Final

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from reelstream.queue.notify.base import CHANNEL, Notifier

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S: Final = 1.0
MAX_PENDING_PUBLISHES: Final = 100
READ_WAIT_S: Final = 1.0
PING_EVERY_S: Final = 5.0
SILENCE_LIMIT_S: Final = 3 * PING_EVERY_S


class RedisNotifier(Notifier):
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.25,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 2.0,
    ) -> None:
        super().__init__()
        self.url = url
        self._timeout_s = timeout_s
        self._backoff = (backoff_min_s, backoff_max_s)
        # One retry: a pooled connection left over from before a Redis restart fails once.
        self._publisher = self._client(retries=1)
        self._publishing: set[asyncio.Task[None]] = set()
        self._subscriber: asyncio.Task[None] | None = None
        self._failing = False
        self.subscribed = asyncio.Event()
        """Set while the subscriber listens (for health reporting and tests)."""

    def _client(self, *, read_timeout_s: float | None = None, retries: int = 0) -> aioredis.Redis:
        return aioredis.Redis.from_url(
            self.url,
            socket_connect_timeout=self._timeout_s,
            socket_timeout=read_timeout_s or self._timeout_s,
            retry=Retry(NoBackoff(), retries),
            health_check_interval=0,
        )

    # -- sending
    def _broadcast(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if len(self._publishing) >= MAX_PENDING_PUBLISHES:
            return  # Redis is slow: workers elsewhere will poll anyway
        task = loop.create_task(self._publish())
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self) -> None:
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                await self._publisher.publish(CHANNEL, b"job")
        except Exception as exc:  # best effort: a lost wake-up only delays a job to the next poll
            log.debug("wake-up not published: %s", exc)

    # -- receiving
    async def start(self) -> None:
        if self._subscriber is None:
            self._subscriber = asyncio.create_task(self._listen(), name="redis-notifier")

    async def _listen(self) -> None:
        delay = self._backoff[0]
        while True:
            client = self._client(read_timeout_s=PING_EVERY_S)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    await self._receive(pubsub)
            except Exception as exc:
                if self.subscribed.is_set():
                    delay = self._backoff[0]  # it worked until now: try again soon
                if not self._failing:
                    log.warning("Redis wake-ups unavailable (%s); workers rely on polling", exc)
                    self._failing = True
            finally:
                self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _receive(self, pubsub: PubSub) -> None:
        """Wake local workers on every message until the connection fails (raises)."""
        last_seen = last_ping = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=READ_WAIT_S)
            now = time.monotonic()
            if message is not None:
                last_seen = now
                kind = message.get("type")
                if kind == "subscribe" and not self.subscribed.is_set():
                    self.subscribed.set()
                    if self._failing:
                        self._failing = False
                        log.info("Redis wake-ups work again")
                        self.wake_local()  # a message may have been missed meanwhile
                elif kind == "message":
                    self.wake_local()
            if now - last_ping >= PING_EVERY_S:
                await pubsub.ping()
                last_ping = now
            if now - last_seen > SILENCE_LIMIT_S:
                raise ConnectionError(f"no answer from Redis for {SILENCE_LIMIT_S:.0f} s")

    async def close(self) -> None:
        tasks = list(self._publishing)
        if self._subscriber is not None:
            tasks.append(self._subscriber)
            self._subscriber = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._publisher.aclose()
