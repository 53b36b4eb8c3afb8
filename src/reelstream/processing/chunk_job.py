"""A ``chunk`` job: one time range of a long video's ladder, for the ``transcode`` job that
queued it (``reelstream.processing.chunked``).

The payload names the parent job, the rev every part of the video is written into, the chunk
(``reelstream.media.chunks.Chunk``) and the renditions to encode. The attempt probes the source,
encodes those renditions for the chunk's range in one ffmpeg (decoding the range once), turns
the output into the rung's final segment files (global numbers, decode times on the whole
video's timeline: ``finish_chunk``) and stores them under the rev. If that ffmpeg fails, each
rendition is encoded alone, so a failing one costs only itself (it is left out of the result,
and the parent publishes without it). Completing records the result in the job's payload and,
in the same transaction, wakes the parent once no sibling is left queued or running; so does a
chunk that fails for good (the reaper does the same for one whose worker died too often).

A chunk whose worker dies is re-leased like any job (lease, heartbeats, the reaper) and encoded
again alone: the other chunks, and the lead the parent encoded, are kept.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.fsutil import fresh_dir
from reelstream.media.chunks import Chunk, ChunkResult, build_chunk_argv, finish_chunk
from reelstream.media.errors import FFmpegFailed, TranscodeError
from reelstream.media.ffmpeg import run_ffmpeg
from reelstream.media.ladder import RungPlan, plan_ladder
from reelstream.media.probe import Container, MediaInfo, probe
from reelstream.processing.options import ffmpeg_options
from reelstream.processing.pipeline import (
    UPLOAD_CONCURRENCY,
    remove_outputs,
    rendition_error,
    worst_failure,
)
from reelstream.processing.runner import LeasedAttempt, local_source
from reelstream.processing.timeline import Timeline
from reelstream.queue.errors import LeaseLost
from reelstream.queue.jobs import JobQueue, Lease, Stages
from reelstream.queue.kinds import CHUNK
from reelstream.storage.keys import rev_prefix, source_key
from reelstream.videos import repository as videos

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)


async def settle(session: AsyncSession, queue: JobQueue, parent_id: int, video_id: str) -> None:
    """Wake the parent ``transcode`` job once none of its chunks is queued or running (in
    the transaction that ends a chunk)."""
    if await queue.children_settled(session, parent_id, video_id, CHUNK) is not None:
        await queue.wake(session, parent_id)


class ChunkAttempt(LeasedAttempt[ChunkResult]):
    """``nice``: the CPU priority of its ffmpeg (lowered when the transcode's own worker runs
    it beside the lead, see ``ladder_job.TranscodeAttempt``)."""

    def __init__(self, services: Services, lease: Lease, *, nice: int = 0) -> None:
        super().__init__(services, lease)
        self.nice = nice
        payload = lease.payload
        self.parent = int(payload["parent"])
        self.rev = str(payload["rev"])
        self.names = [str(n) for n in payload["rungs"]]
        self.chunk = Chunk.from_json(payload["chunk"])
        self.options = ffmpeg_options(self.settings)
        self.timeline = Timeline()
        self._progress = 0.0

    def progress(self) -> float | None:
        return self._progress

    def stages(self) -> Stages | None:
        return self.timeline.to_json()

    async def produce(self) -> ChunkResult:
        await anyio.to_thread.run_sync(fresh_dir, self.work)
        async with self.services.db.read(primary=True) as s:
            video = await videos.get_video(s, self.video_id)
            replacing = self.lease.payload.get("source")
            key = str(replacing or video.source_key or source_key(self.video_id))
        # one copy per source on this machine: a replacing source's has its own name
        shared = f"{self.video_id}-{key.rsplit('.', 1)[-1]}" if replacing else self.video_id
        source = await local_source(self.services, key, self.work, shared_for=shared)
        info = await probe(source, self.options.limits)
        planned = plan_ladder(self.options.ladder, info.width, info.height, info.fps, vfr=info.vfr)
        rungs = [r for r in planned if r.name in self.names]
        if not rungs:
            raise TranscodeError("the chunk names no rendition of this video's ladder")
        for rung in rungs:
            self.timeline.start("encode", rung.name)
        out = self.work / "out"
        out.mkdir()
        encoded = await self._encode(
            source, out, Container(info.container, info.demuxer), info, rungs
        )
        result = await anyio.to_thread.run_sync(finish_chunk, out, encoded, self.chunk)
        await self._store(out, encoded)
        for rung in encoded:
            self.timeline.done("encode", rung.name)
        return result

    async def _encode(
        self, source: Path, out: Path, container: Container, info: MediaInfo, rungs: list[RungPlan]
    ) -> list[RungPlan]:
        """Every rendition in one ffmpeg; if that fails, each alone (at least one must work)."""
        end = self.chunk.end_s if self.chunk.end_s is not None else info.duration_s
        length = max(0.001, end - self.chunk.start_s)
        try:
            await self._run(source, out, container, info, rungs, length, "chunk")
            return rungs
        except FFmpegFailed as exc:
            log.warning(
                "video %s chunk %d: the encode failed (%s); each rendition on its own",
                self.video_id,
                self.chunk.index,
                exc.message,
            )
        encoded: list[RungPlan] = []
        failures: list[TranscodeError] = []
        for rung in rungs:
            await anyio.to_thread.run_sync(remove_outputs, out, [rung.name])
            try:
                await self._run(source, out, container, info, [rung], length, rung.name)
            except TranscodeError as exc:
                self.timeline.fail("encode", rung.name, rendition_error(rung.name, exc))
                await anyio.to_thread.run_sync(remove_outputs, out, [rung.name])
                failures.append(exc)
                continue
            encoded.append(rung)
        if not encoded:
            raise worst_failure(failures)
        return encoded

    async def _run(
        self,
        source: Path,
        out: Path,
        container: Container,
        info: MediaInfo,
        rungs: list[RungPlan],
        length: float,
        what: str,
    ) -> None:
        argv = build_chunk_argv(
            self.options, source, out, container=container, info=info, rungs=rungs, chunk=self.chunk
        )
        await run_ffmpeg(
            argv,
            timeout_s=self.options.timeout_s,
            stderr_path=self.work / f"ffmpeg-{what}.log",
            on_progress=functools.partial(self._on_progress, length=length, rungs=rungs),
            nice=self.nice,
        )

    def _on_progress(self, out_time_s: float, *, length: float, rungs: list[RungPlan]) -> None:
        value = min(1.0, out_time_s / length)
        for rung in rungs:
            self.timeline.progress("encode", rung.name, value)
        self._progress = value * 0.95

    async def _store(self, out: Path, encoded: list[RungPlan]) -> None:
        """Store the segments, then the init segments (identical in every chunk of a rung)."""
        prefix = rev_prefix(self.video_id, self.rev)
        files = [p for rung in encoded for p in sorted((out / rung.name).iterdir()) if p.is_file()]
        store = self.services.store
        limiter = anyio.CapacityLimiter(UPLOAD_CONCURRENCY)

        async def put(path: Path) -> None:
            async with limiter:
                await store.put_file(f"{prefix}/{path.parent.name}/{path.name}", path, move=True)

        async with anyio.create_task_group() as tg:
            for path in files:
                tg.start_soon(put, path)

    async def finish(self, produced: ChunkResult) -> str:
        payload = {**self.lease.payload, "result": produced.to_json()}
        queue = self.services.queue
        async with self.services.db.transaction() as s:
            if not await queue.complete(s, self.lease, self.stages(), payload=payload):
                raise LeaseLost("the chunk's lease was lost before it was recorded")
            await settle(s, queue, self.parent, self.video_id)
        log.info(
            "video %s chunk %d (%s): encoded",
            self.video_id,
            self.chunk.index,
            ", ".join(self.names),
        )
        return "chunk_done"

    async def give_back(self, reason: str) -> None:
        """On shutdown: hand the chunk back at once without spending an attempt (what it
        stored is overwritten by the next attempt)."""
        self.timeline.fail_unfinished(reason)
        try:
            async with self.services.db.transaction() as s:
                await self.services.queue.release(s, self.lease, reason)
        except Exception:
            return

    async def fail(self, reason: str, *, retryable: bool) -> str:
        self.timeline.fail_unfinished(reason)
        queue = self.services.queue
        async with self.services.db.transaction() as s:
            outcome = await queue.fail(
                s, self.lease, reason, retryable=retryable, stages=self.stages()
            )
            if outcome is None:
                return "lease_lost"
            if outcome.final:
                await settle(s, queue, self.parent, self.video_id)
        return "failed" if outcome.final else "retry"


def chunk_payload(
    parent: int, rev: str, chunk: Chunk, rungs: list[RungPlan], source: str | None = None
) -> dict[str, object]:
    """What a chunk job needs (``ChunkAttempt`` reads it back); ``source``: the replacing
    source its transcode reads (``ladder_job``), else the video's own."""
    payload: dict[str, object] = {
        "parent": parent,
        "rev": rev,
        "chunk": chunk.to_json(),
        "rungs": [r.name for r in rungs],
    }
    if source:
        payload["source"] = source
    return payload
