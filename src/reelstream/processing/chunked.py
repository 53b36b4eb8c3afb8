"""A long video's ladder shared by every worker: the ``transcode`` job's side of chunking.

A video at least ``settings.chunk_min_s`` long (with more than one rung) is split into chunks
of ``settings.chunk_s`` seconds, cut on segment boundaries (``reelstream.media.chunks``). The
``transcode`` job then:

1. queues one ``chunk`` job per chunk for every rung but the lowest (``chunk_job``), in one
   transaction fenced on its lease that also records the rev they write into in its payload
   (a retry of the job finds them there and queues nothing again);
2. encodes the lead itself (lowest rung, the audio as one continuous stream, the storyboard,
   the poster), published while it grows (``progressive``), and stores it; meanwhile its
   own worker takes chunks of the video too, at a lower CPU priority
   (``TranscodeAttempt._help_with_chunks``), so one worker keeps every core busy as an
   unchunked transcode does;
3. if a chunk is still queued or running, hands its job back to wait (``JobQueue.wait``: the
   attempt is not spent, the timeline and the lead's layout stay in the payload, the video
   stays ``processing``); the last chunk to end wakes it (``chunk_job.settle``), and a late
   re-check (``RECHECK_S``) covers a wake-up that never came;
4. assembles: every rung's media playlist from its chunks' results (``stitch``: one init
   segment, global segment numbers, continuous decode times), the layout of lead, audio and
   stitched rungs, and publishes as every transcode does (``Attempt.finish``: fenced, once).

A rung missing from any chunk (it failed there for good) is left out of the publish and shown
failed on the timeline; its owner can retry it (a ``rendition`` job re-encodes it whole).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from reelstream.db.base import utcnow
from reelstream.media.chunks import Chunk, ChunkResult, plan_chunks, stitch
from reelstream.media.ffmpeg import PLAYLIST_NAME
from reelstream.media.ladder import RungPlan
from reelstream.media.layout import Layout
from reelstream.media.packaging import Packaged
from reelstream.media.probe import MediaInfo
from reelstream.processing.chunk_job import chunk_payload
from reelstream.processing.pipeline import Produced
from reelstream.processing.runner import Waiting
from reelstream.processing.timeline import Timeline, rendition_label
from reelstream.queue.errors import LeaseLost
from reelstream.queue.kinds import CHUNK

if TYPE_CHECKING:
    from reelstream.db.models import Job
    from reelstream.processing.ladder_job import TranscodeAttempt

log = logging.getLogger(__name__)

RECHECK_S = 60.0  # a waiting job looks again this late even if no chunk woke it
WAITING = "waiting_for_chunks"


def chunk_plan(attempt: TranscodeAttempt, info: MediaInfo, rungs: list[RungPlan]) -> list[Chunk]:
    """The chunks of this video, or none when it is encoded whole (too short, or one rung)."""
    settings = attempt.settings
    if len(rungs) < 2 or not settings.chunk_s or info.duration_s < settings.chunk_min_s:
        return []
    # one GOP of pre-roll before each chunk: x264's rate control has settled at the seam
    # (without it the frames around a seam lose ~0.3 dB PSNR; docs/benchmarks.md)
    chunks = plan_chunks(
        info.duration_s, attempt.options, chunk_s=settings.chunk_s, preroll_s=attempt.options.gop_s
    )
    return chunks if len(chunks) > 1 else []


async def start_chunks(
    attempt: TranscodeAttempt, rest: list[RungPlan], chunks: list[Chunk]
) -> None:
    """Queue a ``chunk`` job per chunk for the ``rest`` of the ladder, once per job."""
    lease, queue = attempt.lease, attempt.services.queue
    payload = {**lease.payload, "rev": attempt.rev, "chunks": len(chunks)}
    async with attempt.services.db.transaction() as s:
        if not await queue.touch(s, lease, attempt.timeline.to_json(), payload=payload):
            raise LeaseLost("the job's lease was lost before its chunks were queued")
        for chunk in chunks:
            await queue.enqueue(
                s,
                lease.video_id,
                CHUNK,
                payload=chunk_payload(lease.job_id, attempt.rev, chunk, rest, attempt.new_source),
            )
    lease.payload.update(payload)
    log.info(
        "video %s: %d chunks of %s queued for rev %s",
        lease.video_id,
        len(chunks),
        ", ".join(r.name for r in rest),
        attempt.rev,
    )


def _rung_json(rung: RungPlan) -> dict[str, Any]:
    return {**dataclasses.asdict(rung), "fps": str(rung.fps)}


def _rung_of(raw: dict[str, Any]) -> RungPlan:
    return RungPlan(**{**raw, "fps": Fraction(raw["fps"])})


async def gather(attempt: TranscodeAttempt, lead: Produced, rest: list[RungPlan]) -> Produced:
    """The lead is stored: assemble the whole ladder, or wait for the chunks."""
    state = {
        "layout": lead.package.layout.to_json(),
        "output_bytes": lead.output_bytes,
        "rest": [_rung_json(r) for r in rest],
    }
    return await _assemble_or_wait(attempt, state)


async def resume(attempt: TranscodeAttempt) -> Produced:
    """A later attempt of a job that waited for its chunks."""
    payload = attempt.lease.payload
    attempt.rev = str(payload["rev"])
    attempt.keep_rev = True
    attempt.timeline = Timeline.from_json(payload.get("stages"))
    return await _assemble_or_wait(attempt, dict(payload["lead"]))


async def _assemble_or_wait(attempt: TranscodeAttempt, state: dict[str, Any]) -> Produced:
    lease, queue = attempt.lease, attempt.services.queue
    rest = [_rung_of(raw) for raw in state["rest"]]
    for rung in rest:
        stage = attempt.timeline.stage("encode", rung.name)
        if stage.state != "running":
            attempt.timeline.start("encode", rung.name)
    children: list[Job] | None
    async with attempt.services.db.transaction() as s:
        children = await queue.children_settled(s, lease.job_id, lease.video_id, CHUNK)
        if children is None:
            payload = {**lease.payload, "lead": state, "stages": attempt.timeline.to_json()}
            until = utcnow() + dt.timedelta(seconds=RECHECK_S)
            if not await queue.wait(
                s, lease, until=until, payload=payload, stages=attempt.timeline.to_json()
            ):
                raise LeaseLost("the job's lease was lost while handing it back")
        else:
            settled = [
                (int(j.payload["chunk"]["index"]), j.state, j.last_error, j.payload)
                for j in children
                if j.payload
            ]
    if children is None:
        log.info("video %s: waiting for its chunks", lease.video_id)
        raise Waiting(WAITING)
    return await _assemble(attempt, state, rest, sorted(settled, key=lambda x: x[0]))


async def _assemble(
    attempt: TranscodeAttempt,
    state: dict[str, Any],
    rest: list[RungPlan],
    settled: list[tuple[int, str, str | None, dict[str, Any]]],
) -> Produced:
    """Stitch every rung the chunks encoded, store its playlist; the layout to publish."""
    attempt.timeline.start("package")
    await attempt.save()
    results: list[ChunkResult] = []
    broken: str | None = None
    for index, job_state, error, payload in settled:
        if job_state != "succeeded" or "result" not in payload:
            broken = f"chunk {index + 1} failed: {error or job_state}"
            continue
        results.append(ChunkResult.from_json(payload["result"]))
    layout = Layout.from_json(state["layout"])
    output_bytes = int(state["output_bytes"])
    store = attempt.services.store
    tracks = list(layout.videos)
    for rung in rest:
        parts = [{x.name: x for x in r.rungs}.get(rung.name) for r in results]
        if broken is not None or any(p is None for p in parts):
            reason = broken or "it failed to encode in one of the chunks"
            label = rendition_label(rung.name)
            attempt.timeline.fail("encode", rung.name, f"the {label} rendition failed: {reason}")
            continue
        text, track = stitch(rung, [p for p in parts if p is not None])
        key = f"{attempt.prefix}/{rung.name}/{PLAYLIST_NAME}"
        output_bytes += (await store.put_bytes(key, text.encode())).size
        output_bytes += sum(seg.size for p in parts if p is not None for seg in p.segments)
        tracks.append(track)
        attempt.timeline.done("encode", rung.name)
    if len(tracks) == len(layout.videos) and rest:
        log.warning("video %s: no chunked rendition could be assembled", attempt.video_id)
    tracks.sort(key=lambda t: (t.height, t.peak_bps))
    whole = dataclasses.replace(layout, videos=tracks, growing=False)
    attempt.timeline.done("package")
    return Produced(None, [], Packaged(whole, []), output_bytes)
