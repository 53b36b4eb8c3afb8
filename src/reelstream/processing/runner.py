"""The leased attempt every job kind runs under: heartbeats, outcome, work-dir clean-up.

A kind's handler subclasses ``LeasedAttempt`` and writes ``produce`` (the work, run while the
lease is renewed every ``heartbeat_s``; a refused renewal cancels it) and, when something
follows the work outside the heartbeats (publishing), ``finish``. ``run`` turns what happened
into the attempt's outcome, the same way for every kind:

    LeaseLost, VideoNotFound  ``stopped``: nothing recorded (the lease is gone, or the video)
    InvalidMedia              the job fails for good, with the reason shown to the uploader
    TranscodeError            the job fails; ``retryable`` says whether it is tried again (a
                              permanent failure fails the video at once, with its reason)
    BlobNotFound              fails for good: the uploaded file is missing from storage
    StorageError              fails, retryable (``STORAGE_ERROR``; the details are logged: they
                              name storage keys and the server's folders)
    Waiting                   the job was handed back to wait for other jobs (its outcome)
    anything else             ``unexpected``: re-raised unless the kind fails the attempt
    cancellation              ``give_back`` (the worker is shutting down), then re-raised

Failing is ``fail`` (fenced on the lease), which a kind may extend (the video's status). The
attempt's temp dir (``work_dir/{job}-{attempt}-{rev}``) is removed whatever the outcome.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio

from reelstream.fsutil import remove_tree
from reelstream.media.errors import InvalidMedia, TranscodeError
from reelstream.queue.errors import LeaseLost
from reelstream.queue.heartbeat import run_with_heartbeats
from reelstream.queue.jobs import Lease, Stages
from reelstream.storage.errors import BlobNotFound, StorageError
from reelstream.videos.errors import VideoNotFound

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)

T = TypeVar("T")

MISSING_SOURCE = "the uploaded file is missing from storage"
STORAGE_ERROR = "storage error: the video's files could not be read or stored"


def work_dir_name(lease: Lease) -> str:
    return f"{lease.job_id}-{lease.attempt}-{lease.rev}"


class Waiting(Exception):
    """The attempt handed its job back on purpose, to wait for other jobs (recorded already:
    ``JobQueue.wait``); ``outcome`` is the attempt's outcome."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


class LeasedAttempt(abc.ABC, Generic[T]):
    """One attempt of one leased job; ``run`` returns its outcome (a metrics/log label)."""

    def __init__(self, services: Services, lease: Lease) -> None:
        self.services = services
        self.settings = services.settings
        self.lease = lease
        self.video_id = lease.video_id
        self.work: Path = self.settings.work_dir / work_dir_name(lease)

    # -- what a kind writes

    @abc.abstractmethod
    async def produce(self) -> T:
        """The work, under heartbeats."""

    async def finish(self, produced: T) -> str:
        """What follows the work (publishing); returns the outcome."""
        return str(produced)

    def progress(self) -> float | None:
        """Sent with each heartbeat (``None``: not recorded)."""
        return None

    def stages(self) -> Stages | None:
        """The timeline stages sent with each heartbeat and recorded when failing."""
        return None

    async def stopped(self, exc: LeaseLost | VideoNotFound) -> str:
        """The lease was lost or the video deleted: nothing may be recorded."""
        return "lease_lost" if isinstance(exc, LeaseLost) else "deleted"

    async def unexpected(self, exc: Exception) -> str:
        """A bug or an error nobody planned for; by default the lease simply expires."""
        raise exc

    async def give_back(self, reason: str) -> None:
        """The worker is shutting down during the attempt (the default: let the lease
        expire, the reaper re-queues the job)."""

    async def fail(self, reason: str, *, retryable: bool) -> str:
        """Record the failed attempt (fenced on the lease): retried later or failed for good."""
        async with self.services.db.transaction() as s:
            outcome = await self.services.queue.fail(
                s, self.lease, reason, retryable=retryable, stages=self.stages()
            )
        if outcome is None:
            return "lease_lost"
        return "failed" if outcome.final else "retry"

    # -- the runner

    async def run(self) -> str:
        try:
            return await self._outcome()
        except asyncio.CancelledError:
            await shielded(self.give_back("the worker shut down during transcoding"))
            raise
        finally:
            await shielded(anyio.to_thread.run_sync(remove_tree, self.work))

    async def _outcome(self) -> str:
        try:
            produced = await run_with_heartbeats(
                self.services.queue,
                self.lease,
                self.produce(),
                every_s=self.settings.heartbeat_s,
                progress=self.progress,
                stages=self.stages,
            )
            return await self.finish(produced)
        except Waiting as exc:
            return exc.outcome
        except (LeaseLost, VideoNotFound) as exc:
            return await self.stopped(exc)
        except InvalidMedia as exc:
            return await self.fail(exc.message, retryable=False)
        except TranscodeError as exc:
            return await self.fail(exc.message, retryable=exc.retryable)
        except BlobNotFound:
            return await self.fail(MISSING_SOURCE, retryable=False)
        except StorageError as exc:
            log.warning("job %s: storage error: %s", self.lease.job_id, exc.message)
            return await self.fail(STORAGE_ERROR, retryable=True)
        except Exception as exc:
            return await self.unexpected(exc)


SOURCES_DIR = "sources"  # under work_dir: sources shared by the chunk jobs of a video


async def local_source(
    services: Services, key: str, work: Path, *, shared_for: str | None = None
) -> Path:
    """A local file ffmpeg can read: the blob itself on local disk, else a copy in ``work``.

    ``shared_for`` (a video id): a copy shared by every attempt on this machine that needs
    that video's source (its chunk jobs), fetched once (``work_dir/sources/{id}``, replaced
    atomically; the worker's janitor removes it once the video has no pending job)."""
    store = services.store
    local = store.local_path(key)
    if local is not None and local.is_file():
        return local
    if shared_for is None:
        dest = work / "source"
        await store.fetch_to(key, dest)
        return dest
    cache = services.settings.work_dir / SOURCES_DIR / shared_for
    size = (await store.stat(key)).size
    if await anyio.to_thread.run_sync(_has_size, cache, size):
        return cache
    await anyio.to_thread.run_sync(lambda: cache.parent.mkdir(parents=True, exist_ok=True))
    partial = cache.with_name(f".{shared_for}.{work.name}")
    try:
        await store.fetch_to(key, partial)
        await anyio.to_thread.run_sync(os.replace, partial, cache)
    finally:
        await anyio.to_thread.run_sync(lambda: partial.unlink(missing_ok=True))
    return cache


def _has_size(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


async def shielded(awaitable: Awaitable[object]) -> None:
    """Await clean-up even while the caller is being cancelled."""
    task = asyncio.ensure_future(awaitable)
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.shield(task)
