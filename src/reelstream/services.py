"""The services one reelstream process holds, built once from ``Settings``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from reelstream.auth.tokens import TokenSigner
from reelstream.cache import Cache, create_cache
from reelstream.cache.generations import open_generations
from reelstream.config import Settings
from reelstream.db import Database
from reelstream.http.pagination import Cursors
from reelstream.observability.metrics import Metrics
from reelstream.queue import JobQueue, RetryPolicy
from reelstream.queue.notify import Notifier, create_notifier
from reelstream.queue.wakeups import install as install_wakeups
from reelstream.storage import BlobStore, create_store
from reelstream.storage.errors import StorageError
from reelstream.videos.cache import VideoCache
from reelstream.videos.invalidation import install as install_invalidation

log = logging.getLogger(__name__)

STORE_RETRY_FIRST_S = 0.5
STORE_RETRY_MAX_S = 10.0


@dataclass
class Services:
    settings: Settings
    db: Database
    store: BlobStore
    queue: JobQueue
    signer: TokenSigner
    cursors: Cursors
    metrics: Metrics
    notifier: Notifier
    cache: Cache
    video_cache: VideoCache
    _opening: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def start(self) -> None:
        """Open what needs an event loop (listeners, buckets). A store that cannot be reached
        does not stop the process: it starts not ready (``/readyz`` says why) and opens the
        store in the background (the chaos campaign saw roles restarted while the store
        answered 503 crash-loop instead of serving what needs no store)."""
        try:
            await self.store.open()
        except StorageError as exc:
            log.warning("storage unavailable at start (%s); retrying in the background", exc)
            self._opening = asyncio.create_task(self._open_store_later())
        await self.notifier.start()

    async def _open_store_later(self) -> None:
        delay = STORE_RETRY_FIRST_S
        while True:
            await asyncio.sleep(delay)
            try:
                await self.store.open()
            except StorageError as exc:
                log.warning("storage still unavailable: %s", exc)
                delay = min(delay * 2, STORE_RETRY_MAX_S)
            else:
                log.info("storage reachable again")
                return

    async def close(self) -> None:
        if self._opening is not None:
            self._opening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._opening
        await self.notifier.close()
        await self.cache.close()
        await self.store.close()
        await self.db.dispose()


def build_services(settings: Settings) -> Services:
    """Build everything a process needs. ``settings.prepare()`` must have run."""
    db = Database(
        settings.resolved_database_url,
        settings.database_replica_url,
        pool_size=settings.database_pool_size,
        timeout_s=settings.database_timeout_s,
    )
    policy = RetryPolicy(
        max_attempts=settings.max_attempts,
        base_s=settings.retry_base_s,
        max_s=settings.retry_max_s,
    )
    keys = {kid: key.get_secret_value() for kid, key in settings.signing_keys.items()}
    metrics = Metrics()
    key_created = settings.signing_key_created_ts()
    if key_created is not None:  # for the key rotation alert
        metrics.signing_key_created.labels(settings.signing_key_id).set(key_created)
    cache = create_cache(settings, metrics)
    video_cache = VideoCache(
        cache,
        settings.cache_ttl_s,
        metrics=metrics,
        # shared by the processes of this host that share the data dir (--workers N)
        generations=open_generations(settings.data_dir.resolve() / "cache" / "generations"),
        local_entries=settings.cache_local_entries,
        local_ttl_s=settings.cache_local_ttl_s,
        list_ttl_s=settings.cache_list_ttl_s,
    )
    install_invalidation(db, video_cache)
    notifier = create_notifier(settings)
    install_wakeups(db, notifier)
    return Services(
        settings=settings,
        db=db,
        store=create_store(settings, metrics),
        queue=JobQueue(db, policy, settings.lease_s, metrics),
        signer=TokenSigner(keys, settings.signing_key_id),
        cursors=Cursors(keys, settings.signing_key_id),
        metrics=metrics,
        notifier=notifier,
        cache=cache,
        video_cache=video_cache,
    )
