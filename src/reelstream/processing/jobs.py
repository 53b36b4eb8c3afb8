"""Job kinds -> handlers (the one map), claiming the next job, running one attempt.

Every handler is a ``reelstream.processing.runner.LeasedAttempt`` built from the services and
the lease; ``run_job`` looks the lease's kind up here and runs the attempt. A job of a kind
this version does not know fails for good (no retry can help).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reelstream.processing.chunk_job import ChunkAttempt
from reelstream.processing.cleanup import CleanupAttempt
from reelstream.processing.ladder_job import TranscodeAttempt
from reelstream.processing.poster import PosterAttempt
from reelstream.processing.rendition_job import RenditionAttempt
from reelstream.processing.runner import LeasedAttempt
from reelstream.queue import kinds
from reelstream.queue.jobs import Lease
from reelstream.videos import repository as videos

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)

Handler = Callable[["Services", Lease], LeasedAttempt[Any]]

HANDLERS: dict[str, Handler] = {
    kinds.TRANSCODE: TranscodeAttempt,
    kinds.RENDITION: RenditionAttempt,
    kinds.POSTER: PosterAttempt,
    kinds.CLEANUP: CleanupAttempt,
    kinds.CHUNK: ChunkAttempt,
}


async def claim_next(services: Services, owner: str) -> Lease | None:
    """Claim the next due job; a transcode marks its video ``processing`` in the same
    transaction (other kinds, like ``poster``, never change the video's status)."""
    async with services.db.transaction() as s:
        lease = await services.queue.claim(s, owner)
        if lease is not None and lease.kind == kinds.TRANSCODE:
            await videos.mark_processing(s, lease.video_id)
    return lease


async def run_job(services: Services, lease: Lease) -> str:
    """Run one attempt of the leased job, by kind; returns its outcome."""
    handler = HANDLERS.get(lease.kind)
    if handler is not None:
        return await handler(services, lease).run()
    log.error("job %d has an unknown kind %r", lease.job_id, lease.kind)
    async with services.db.transaction() as s:
        await services.queue.fail(s, lease, f"unknown job kind {lease.kind!r}", retryable=False)
    return "failed"
