"""The worker process: claim loops under leases, a reaper, janitors, graceful shutdown.

``WorkerPool`` runs ``settings.worker_concurrency`` claim loops (so at most that many encodes
at once) and one reaper loop in the current event loop. A claim loop claims a job and marks its
video ``processing`` in one transaction, runs the attempt, and when the queue is empty sleeps
until the notifier wakes it or ``poll_interval_s`` passes. The reaper re-queues jobs whose
worker stopped heart-beating (and fails those out of attempts), in the same transaction as the
videos' status (and, for a job failed for good, a ``cleanup`` sweep of its revs:
``reelstream.processing.cleanup``), then removes the expired attempts' partial outputs; every
``JANITOR_INTERVAL_S`` it also runs the upload janitor. One webhook loop drives a dispatcher
(``reelstream.webhooks.dispatcher``) that sends due webhook deliveries.

``stop()`` stops claiming, waits up to ``shutdown_grace_s`` for running attempts, then cancels
them (which kills their ffmpeg and hands the jobs back to the queue). The side loops (reaper,
webhooks, registry heartbeat) are then asked to stop and finish the pass they are in: they are
never cancelled inside a database transaction, because a transaction cancelled halfway can
leave an SQLite connection holding the write lock, and the last write of the pool (marking it
stopped) would then wait out the busy timeout (30 s) and fail with ``database is locked``.
Only a loop still busy after ``SIDE_STOP_S`` (a webhook send waiting on a slow endpoint) is
cancelled; its delivery is retried after its lease expires.

Jobs are claimed and run by ``reelstream.processing.jobs`` (kind -> handler, one map). While
an attempt runs, its log lines carry the job (``job_id``, ``kind``, ``video_id``) and the id of
the request that queued it (``bound_to``).

The pool keeps its row in the workers registry (``reelstream.queue.workers``, id
``host:pid``): registered on ``start()``, a beat every ``heartbeat_s`` with the number of busy
slots, marked stopped by ``stop()``. A database outage while beating is logged and the next
beat tries again (registering anew if the row is missing); it never stops the pool.

``ElectedPool`` runs a pool in exactly one of the processes of ``reelstream serve --workers N``
(they share one data dir): the one holding the ``flock`` on ``<data_dir>/workers.lock``. The
others try again every ``LEADER_POLL_S``; when the holder dies (even by SIGKILL) the kernel
drops its lock and another process starts the pool within that period.

``run_worker_process`` is the ``reelstream worker`` role: a pool until SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import time
from pathlib import Path

import anyio
import httpx
from sqlalchemy import select

from reelstream import webhooks
from reelstream.config import Settings
from reelstream.db.errors import DatabaseUnavailable
from reelstream.db.models import Job
from reelstream.fsutil import FileLock, remove_tree
from reelstream.ingest.service import purge_expired
from reelstream.observability.context import REQUEST_ID_KEY, bound, valid_request_id
from reelstream.processing.chunk_job import settle
from reelstream.processing.cleanup import (
    schedule_cleanup,
    schedule_source_removal,
    schedule_sweep,
)
from reelstream.processing.jobs import claim_next, run_job
from reelstream.processing.runner import SOURCES_DIR, work_dir_name
from reelstream.queue import workers as registry
from reelstream.queue.jobs import Lease
from reelstream.queue.kinds import CHUNK, RENDITION, TRANSCODE
from reelstream.services import Services, build_services
from reelstream.storage.errors import StorageError
from reelstream.storage.keys import rev_prefix
from reelstream.videos import repository as videos
from reelstream.videos.errors import VideoNotFound
from reelstream.webhooks.dispatcher import Dispatcher

log = logging.getLogger(__name__)

JANITOR_INTERVAL_S = 300.0
SIDE_STOP_S = 5.0  # how long stop() lets a side loop finish its pass before cancelling it
REGISTRY_PRUNE_INTERVAL_S = 3600.0
LEADER_POLL_S = 2.0  # how often a process without the pool tries to take it over
LEADER_LOCK = "workers.lock"
REV_WRITERS = (TRANSCODE, RENDITION)  # the kinds whose attempts write a rev folder of their own
_WORK_DIR_RE = re.compile(r"\A\d+-\d+-[a-z0-9]{12}\Z")


def bound_to(lease: Lease) -> contextlib.AbstractContextManager[None]:
    """While a job runs, its log lines carry the request that queued it (``request_id`` in
    the payload) and the job itself (``reelstream.observability.context``)."""
    return bound(
        request_id=valid_request_id(lease.payload.get(REQUEST_ID_KEY)),
        job_id=lease.job_id,
        kind=lease.kind,
        video_id=lease.video_id,
    )


async def reap_once(services: Services) -> int:
    """Re-queue or fail jobs whose lease expired; returns how many leases expired."""
    async with services.db.transaction() as s:
        expired, dead = await services.queue.reap(s)
        dead_ids = {d.job_id for d in dead}
        # only transcodes own the video's status; a dead poster job leaves the video as it is
        transcodes = {lease.job_id for lease in expired if lease.kind == TRANSCODE}
        writers = {lease.job_id for lease in expired if lease.kind in REV_WRITERS}
        parents = {
            lease.job_id: int(lease.payload["parent"])
            for lease in expired
            if lease.kind == CHUNK and lease.payload.get("parent") is not None
        }
        # transcodes of a replacing source: their failure leaves the published video as it is
        replacing = {
            lease.job_id: str(lease.payload["source"])
            for lease in expired
            if lease.kind == TRANSCODE and lease.payload.get("source")
        }
        for d in dead:
            if d.job_id in writers:  # no publish will sweep what its attempts left
                await schedule_sweep(s, services.queue, d.video_id)
            if d.job_id in parents:  # a chunk out of attempts: its transcode decides
                await settle(s, services.queue, parents[d.job_id], d.video_id)
            if d.job_id not in transcodes:
                continue
            if d.job_id in replacing:
                await services.queue.cancel_children(s, d.job_id, d.video_id)
                await schedule_source_removal(s, services.queue, d.video_id, replacing[d.job_id])
                continue
            with contextlib.suppress(VideoNotFound):
                retired = await videos.mark_failed(
                    s,
                    d.video_id,
                    f"processing stopped: the worker died {d.attempts} "
                    f"time{'s' if d.attempts != 1 else ''}",
                )
                if retired is not None:  # it was playable while processing
                    await schedule_cleanup(
                        s, services.queue, services.settings, d.video_id, retired
                    )
                await webhooks.emit(s, "video.failed", d.video_id)
        for lease in expired:
            if lease.job_id not in dead_ids and lease.job_id in transcodes - replacing.keys():
                with contextlib.suppress(VideoNotFound):
                    await videos.mark_queued(s, lease.video_id)
    for lease in expired:
        log.warning(
            "job %d (video %s): worker %s stopped responding during attempt %d",
            lease.job_id,
            lease.video_id,
            lease.owner,
            lease.attempt,
        )
        await _remove_expired_outputs(services, lease)
    return len(expired)


async def _remove_expired_outputs(services: Services, lease: Lease) -> None:
    """Remove what an expired attempt left: its storage folder (never the published rev) and
    its temp dir when it ran on this machine."""
    if not lease.rev:
        return
    try:
        async with services.db.read(primary=True) as s:
            video = await videos.get_video(s, lease.video_id)
            published = video.published_rev
    except VideoNotFound:
        published = None
    if lease.rev != published:
        try:
            await services.store.delete_prefix(rev_prefix(lease.video_id, lease.rev))
        except StorageError as exc:
            log.warning("cannot remove outputs of expired rev %s: %s", lease.rev, exc)
    work = services.settings.work_dir / work_dir_name(lease)
    await anyio.to_thread.run_sync(remove_tree, work)


async def remove_stale_work_dirs(services: Services) -> int:
    """Remove temp dirs under ``work_dir`` that no running job owns (left by a crash)."""
    root = services.settings.work_dir
    if not root.is_dir():
        return 0
    # List first, then ask the database: a dir created after a claim that committed after
    # this listing is not in the list, so it cannot be removed by mistake.
    candidates = [p for p in root.iterdir() if p.is_dir() and _WORK_DIR_RE.fullmatch(p.name)]
    if not candidates:
        return 0
    async with services.db.read(primary=True) as s:
        rows = (
            await s.execute(
                select(Job.id, Job.attempts, Job.lease_rev).where(Job.state == "running")
            )
        ).all()
    live = {f"{r.id}-{r.attempts}-{r.lease_rev}" for r in rows}
    stale = [p for p in candidates if p.name not in live]
    for path in stale:
        await anyio.to_thread.run_sync(remove_tree, path)
    removed = len(stale)
    if removed:
        log.info("removed %d leftover work dirs", removed)
    return removed


async def remove_unused_sources(services: Services) -> int:
    """Remove the shared source copies (``runner.local_source(shared_for=...)``) of videos that
    no queued or running job needs any more, and copies left half-fetched by a crash."""
    folder = services.settings.work_dir / SOURCES_DIR
    if not folder.is_dir():
        return 0
    # List first, then ask the database (a copy made after the listing is not in it).
    found = [p for p in folder.iterdir() if p.is_file()]
    if not found:
        return 0
    async with services.db.read(primary=True) as s:
        rows = await s.execute(
            select(Job.video_id, Job.state, Job.attempts, Job.lease_rev, Job.id).where(
                Job.state.in_(("queued", "running"))
            )
        )
        pending = rows.all()
    needed = {r.video_id for r in pending}
    live = {f"{r.id}-{r.attempts}-{r.lease_rev}" for r in pending if r.state == "running"}
    stale = [
        p
        for p in found
        if (p.name.startswith(".") and p.name.split(".")[2] not in live)
        or (not p.name.startswith(".") and p.name.split("-")[0] not in needed)
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log.info("removed %d shared source copies no job needs", len(stale))
    return len(stale)


async def run_janitor(services: Services) -> None:
    """The ingest janitor: remove expired, unfinished uploads."""
    removed = await purge_expired(services)
    if removed:
        log.info("removed %d expired upload(s)", removed)


class WorkerPool:
    def __init__(self, services: Services, *, concurrency: int | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.concurrency = concurrency or self.settings.worker_concurrency
        self._stopping = False
        self._halt = asyncio.Event()  # set by stop(): the side loops end after their pass
        self._loops: list[asyncio.Task[None]] = []
        self._idle: dict[int, bool] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._webhooks: asyncio.Task[None] | None = None  # reelstream.webhooks.dispatcher
        self._beater: asyncio.Task[None] | None = None  # the workers registry's heartbeat
        self._busy: set[int] = set()  # slots running an attempt
        self._prefix = f"{socket.gethostname()}:{os.getpid()}"

    def owner(self, n: int) -> str:
        return f"{self._prefix}:{n}"

    @property
    def worker_id(self) -> str:
        """The pool's id in the workers registry: ``host:pid``."""
        return self._prefix

    @property
    def busy(self) -> int:
        """How many slots are running an attempt now."""
        return len(self._busy)

    @property
    def running(self) -> bool:
        return bool(self._loops) and not self._stopping

    async def start(self) -> None:
        if self._loops:
            return
        self._stopping = False
        self._halt = asyncio.Event()
        try:
            await remove_stale_work_dirs(self.services)
            await remove_unused_sources(self.services)
        except Exception:
            log.exception("cannot clean the work dir")
        await self._register()
        for n in range(self.concurrency):
            self._idle[n] = False
            self._loops.append(asyncio.create_task(self._claim_loop(n), name=f"worker-{n}"))
        self._reaper = asyncio.create_task(self._reaper_loop(), name="reaper")
        self._webhooks = asyncio.create_task(self._webhook_loop(), name="webhooks")
        self._beater = asyncio.create_task(self._beat_loop(), name="worker-heartbeat")
        log.info("worker pool started: %d slot(s) as %s", self.concurrency, self._prefix)

    async def stop(self) -> None:
        """Stop claiming; give running attempts ``shutdown_grace_s``, then cancel them."""
        if not self._loops:
            return
        self._stopping = True
        for n, task in enumerate(self._loops):
            if self._idle.get(n):
                task.cancel()
        _, pending = await asyncio.wait(self._loops, timeout=self.settings.shutdown_grace_s)
        if pending:
            log.warning("cancelling %d running transcode(s) after the grace period", len(pending))
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._halt.set()
        sides = [s for s in (self._reaper, self._webhooks, self._beater) if s is not None]
        if sides:
            _, busy = await asyncio.wait(sides, timeout=SIDE_STOP_S)
            for side in busy:
                log.warning(
                    "cancelling %s: still busy %.0f s after stop", side.get_name(), SIDE_STOP_S
                )
                side.cancel()
            await asyncio.gather(*sides, return_exceptions=True)
        self._loops.clear()
        self._busy.clear()
        self._reaper = None
        self._webhooks = None
        self._beater = None
        try:
            await registry.mark_stopped(self.services.db, self.worker_id)
        except Exception as exc:
            log.warning("cannot mark worker %s stopped in the registry: %s", self.worker_id, exc)
        log.info("worker pool stopped")

    async def _claim_loop(self, n: int) -> None:
        owner = self.owner(n)
        while not self._stopping:
            try:
                lease = await claim_next(self.services, owner)
            except DatabaseUnavailable as exc:
                log.warning("%s: cannot claim jobs: %s", owner, exc)
                lease = None
            except Exception:
                log.exception("%s: claiming failed", owner)
                lease = None
            if lease is not None:
                self._busy.add(n)
                try:
                    with bound_to(lease):
                        await self._run(owner, lease)
                finally:
                    self._busy.discard(n)
                continue
            if self._stopping:
                break
            self._idle[n] = True
            try:
                await self.services.notifier.wait(self.settings.poll_interval_s)
            finally:
                self._idle[n] = False

    async def _run(self, owner: str, lease: Lease) -> None:
        log.info(
            "%s: claimed job %d (video %s, attempt %d, rev %s)",
            owner,
            lease.job_id,
            lease.video_id,
            lease.attempt,
            lease.rev,
        )
        try:
            await run_job(self.services, lease)
        except Exception:  # run_job handles its errors; this is a last resort
            log.exception("%s: attempt crashed", owner)

    async def _register(self) -> bool:
        """Register in the workers registry; an outage is logged (the beat loop retries)."""
        try:
            await registry.register(self.services.db, self.worker_id, slots=self.concurrency)
        except DatabaseUnavailable as exc:
            log.warning("cannot register worker %s: %s", self.worker_id, exc)
            return False
        except Exception:
            log.exception("cannot register worker %s", self.worker_id)
            return False
        return True

    async def _beat_loop(self) -> None:
        """Every ``heartbeat_s``: renew the registry row (re-register when it is missing);
        about once an hour, prune old rows. Errors are logged, never raised."""
        next_prune = time.monotonic() + REGISTRY_PRUNE_INTERVAL_S
        while not await self._halted(self.settings.heartbeat_s):
            try:
                if not await registry.beat(self.services.db, self.worker_id, running=self.busy):
                    await self._register()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + REGISTRY_PRUNE_INTERVAL_S
                    async with self.services.db.transaction() as s:
                        await registry.prune(s)
            except DatabaseUnavailable as exc:
                log.warning("worker %s cannot beat: %s", self.worker_id, exc)
            except Exception:
                log.exception("worker %s: the registry heartbeat failed", self.worker_id)

    async def _reaper_loop(self) -> None:
        next_janitor = time.monotonic() + min(JANITOR_INTERVAL_S, 30.0)
        while not self._halt.is_set():
            try:
                await reap_once(self.services)
            except DatabaseUnavailable as exc:
                log.warning("cannot reap expired leases: %s", exc)
            except Exception:
                log.exception("reaping failed")
            if time.monotonic() >= next_janitor:
                next_janitor = time.monotonic() + JANITOR_INTERVAL_S
                try:
                    await run_janitor(self.services)
                except Exception:
                    log.exception("the upload janitor failed")
                try:
                    await remove_unused_sources(self.services)
                except Exception:
                    log.exception("cannot remove unused source copies")
            await self._halted(self.settings.reaper_interval_s)

    async def _webhook_loop(self) -> None:
        """Dispatch due webhook deliveries until stopped; pause ``webhook_poll_interval_s``
        when nothing is due."""
        dispatcher = Dispatcher(self.services, self._prefix)
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            while not self._halt.is_set():
                try:
                    sent = await dispatcher.run_once(client)
                except DatabaseUnavailable as exc:
                    log.warning("webhooks: cannot reach the database: %s", exc)
                    sent = 0
                except Exception:
                    log.exception("webhooks: dispatching failed")
                    sent = 0
                if not sent:
                    await self._halted(self.settings.webhook_poll_interval_s)

    async def _halted(self, seconds: float) -> bool:
        """Sleep ``seconds`` or until ``stop()`` asks the side loops to end; True if it did."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._halt.wait(), seconds)
        return self._halt.is_set()


class ElectedPool:
    """A ``WorkerPool`` that runs only while this process holds ``lock_path`` (see above)."""

    def __init__(
        self, services: Services, lock_path: Path, *, poll_s: float = LEADER_POLL_S
    ) -> None:
        self.services = services
        self.lock = FileLock(lock_path)
        self.poll_s = poll_s
        self.pool: WorkerPool | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        """Whether this process runs the pool now."""
        return self.pool is not None

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._elect(), name="worker-election")

    async def _elect(self) -> None:
        while not self._stop.is_set():
            if self.lock.try_acquire():
                log.info("pid %d holds %s: it runs the worker pool", os.getpid(), self.lock.path)
                pool = WorkerPool(self.services)
                self.pool = pool
                await pool.start()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.poll_s)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.pool is not None:
            await self.pool.stop()
            self.pool = None
        self.lock.release()


async def run_worker_process(settings: Settings) -> None:
    """``reelstream worker``: run a pool until SIGTERM or SIGINT, then stop gracefully."""
    services = build_services(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pool = WorkerPool(services)
    try:
        await services.start()
        await pool.start()
        await stop.wait()
        log.info("signal received: stopping the worker pool")
        await pool.stop()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await services.close()
