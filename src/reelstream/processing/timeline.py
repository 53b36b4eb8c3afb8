"""A video's processing timeline: what happened to it, stage by stage, and what may be retried.

A worker keeps the stages of its attempt in a ``Timeline`` and writes them into the job row
(``jobs.stages``) with its heartbeats, and at once on every transition that matters (probe done,
a rendition failed, published), always fenced on its lease. The stages of one transcode are::

    probe → playable → encode (one stage per rendition: "v240" … "v1080", and "audio")
      → package → publish

``playable`` is done when the rev was first published while the rest was still encoding
(``reelstream.processing.progressive``); it is skipped when a rev was published before.

A ``rendition`` job (a retry of some failed renditions, ``reelstream.processing.retry``) writes
the same kinds of stages for the renditions it encodes again.

``compose`` turns a video's rows (the video, its upload, every job of it) into the timeline the
API and the watch page show: the upload stage first (its bytes so far), then the stages of the
video's last transcode, each rendition's stage replaced by a later rendition job's, and the
overall progress with an ETA extrapolated from the running attempt's pace.

The overall progress is computed from the stages shown (``overall_progress``): a weighted mean
in which every encode shares ``ENCODE_WEIGHT`` and probe, package and publish count one each
(chunk stages mirror the encodes they feed and the upload is not processing: they weigh
nothing). Stage progress only grows within an attempt and a stage only moves forward, so the
overall figure only grows too and agrees with the per-stage figures beside it; the workers
report the same figure as the job's progress. The ETA divides the attempt's whole elapsed time
by that progress (never the last poll's step), so at a steady pace it only shrinks.

A failed video is ``retryable`` unless its last transcode failed for good at once (a permanent
failure: the file itself cannot work; ``reelstream.processing.ladder_job.final_reason`` keeps
such a reason as it is and prefixes every other): retrying it would fail the same way, so it
is not offered and ``POST .../retry`` refuses it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from reelstream.db.base import utcnow
from reelstream.db.models import Job, Upload, Video
from reelstream.formatting import human_bytes
from reelstream.queue.kinds import CHUNK, RENDITION, TRANSCODE

StageName = Literal["upload", "probe", "playable", "encode", "chunk", "package", "publish"]
StageState = Literal["pending", "running", "done", "failed", "skipped"]

MIN_PROGRESS_FOR_ETA = 0.03  # below this the pace says too little to extrapolate from
ENCODE_WEIGHT = 16.0  # all encodes together, against 1 each for probe, package and publish
_STAGE_WEIGHTS: dict[str, float] = {"probe": 1.0, "package": 1.0, "publish": 1.0}
PERMANENT_HINT = "Retrying will not help: upload a different file."
_ACTIVE = ("queued", "running")


def rendition_label(name: str) -> str:
    """``v720`` -> ``720p``; ``audio`` -> ``audio``: how people call a rendition."""
    if name.startswith("v") and name[1:].isdigit():
        return f"{name[1:]}p"
    return name


def overall_progress(stages: list[Stage]) -> float:
    """The weighted progress of the processing stages shown (see the module docstring):
    finished stages (done, failed, skipped) count whole, running ones by their progress."""
    encodes = sum(1 for s in stages if s.name == "encode")
    total = done = 0.0
    for stage in stages:
        if stage.name == "encode":
            weight = ENCODE_WEIGHT / encodes
        else:
            weight = _STAGE_WEIGHTS.get(stage.name, 0.0)
        if weight == 0:
            continue
        total += weight
        if stage.state in ("done", "failed", "skipped"):
            done += weight
        elif stage.state == "running":
            done += weight * max(0.0, min(1.0, stage.progress))
    return done / total if total else 0.0


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


@dataclass
class Stage:
    name: StageName
    rendition: str | None = None  # encode stages: the rendition ("v720", "audio")
    state: StageState = "pending"
    progress: float = 0.0
    started_at: str | None = None  # ISO 8601, UTC
    finished_at: str | None = None
    detail: str | None = None  # e.g. what the probe found
    error: str | None = None  # why it failed, in words a user understands

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Stage:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.name, self.rendition)


@dataclass
class Timeline:
    """The stages of one attempt, as its worker keeps them."""

    stages: list[Stage] = field(default_factory=list)

    def stage(self, name: StageName, rendition: str | None = None) -> Stage:
        for stage in self.stages:
            if stage.key == (name, rendition):
                return stage
        stage = Stage(name=name, rendition=rendition)
        self.stages.append(stage)
        return stage

    def put(self, stage: Stage) -> None:
        """Replace the stage with the same name and rendition (or add it)."""
        for i, current in enumerate(self.stages):
            if current.key == stage.key:
                self.stages[i] = stage
                return
        self.stages.append(stage)

    def plan(self, name: StageName, rendition: str | None = None) -> None:
        """Add a pending stage (kept where it is when it already exists)."""
        self.stage(name, rendition)

    def start(self, name: StageName, rendition: str | None = None) -> None:
        stage = self.stage(name, rendition)
        stage.state = "running"
        stage.started_at = stage.started_at or _iso(utcnow())
        stage.finished_at = None
        stage.error = None

    def reset(self, name: StageName, rendition: str | None = None) -> None:
        """Back to pending (the work starts over another way)."""
        stage = self.stage(name, rendition)
        stage.state, stage.progress = "pending", 0.0
        stage.started_at = stage.finished_at = stage.error = None

    def done(
        self, name: StageName, rendition: str | None = None, detail: str | None = None
    ) -> None:
        stage = self.stage(name, rendition)
        now = _iso(utcnow())
        stage.state = "done"
        stage.progress = 1.0
        stage.started_at = stage.started_at or now
        stage.finished_at = now
        if detail is not None:
            stage.detail = detail

    def fail(self, name: StageName, rendition: str | None, error: str) -> None:
        stage = self.stage(name, rendition)
        stage.state = "failed"
        stage.error = error
        stage.finished_at = _iso(utcnow())

    def skip(
        self, name: StageName, rendition: str | None = None, detail: str | None = None
    ) -> None:
        stage = self.stage(name, rendition)
        stage.state = "skipped"
        stage.detail = detail

    def progress(self, name: StageName, rendition: str | None, value: float) -> None:
        stage = self.stage(name, rendition)
        stage.progress = max(stage.progress, max(0.0, min(1.0, value)))

    def fail_unfinished(self, error: str) -> None:
        """The attempt failed: its running stages failed with ``error``, the rest never ran."""
        for stage in self.stages:
            if stage.state == "running":
                self.fail(stage.name, stage.rendition, error)
            elif stage.state == "pending":
                stage.state = "skipped"

    def failed_renditions(self) -> list[str]:
        return [
            s.rendition
            for s in self.stages
            if s.name == "encode" and s.state == "failed" and s.rendition is not None
        ]

    def to_json(self) -> list[dict[str, Any]]:
        return [stage.to_json() for stage in self.stages]

    @classmethod
    def from_json(cls, raw: list[dict[str, Any]] | None) -> Timeline:
        return cls([Stage.from_json(item) for item in raw or []])


# -- composing the timeline a user sees


@dataclass(frozen=True)
class JobSummary:
    id: int
    kind: str
    state: str
    attempts: int
    max_attempts: int
    progress: float
    run_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    last_error: str | None
    renditions: list[str]  # a rendition job's renditions

    @classmethod
    def of(cls, job: Job) -> JobSummary:
        return cls(
            id=job.id,
            kind=job.kind,
            state=job.state,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            progress=job.progress,
            run_at=job.run_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            last_error=job.last_error,
            renditions=list((job.payload or {}).get("renditions") or []),
        )


@dataclass(frozen=True)
class Composed:
    status: str
    error: str | None
    progress: float
    eta_s: float | None
    stages: list[Stage]
    job: JobSummary | None  # the newest job that touches the video's renditions
    can_retry_video: bool
    retry_renditions: list[str]
    retryable: bool = True
    """False when the video failed for good for a reason a retry cannot fix (module docstring)."""


def _placeholder(job: Job | None) -> Timeline:
    """Stages not known yet: the renditions are planned only once the source is probed."""
    timeline = Timeline()
    for name in ("probe", "encode", "package", "publish"):
        timeline.plan(name)
    if job is not None and job.state == "failed":
        timeline.fail("probe", None, job.last_error or "processing failed")
        timeline.fail_unfinished(job.last_error or "processing failed")
    return timeline


def _stages_of(job: Job) -> Timeline:
    """The stages a job's rows say, made consistent with the job's state (a transcode waiting
    for its chunks keeps the stages of its lead)."""
    waiting = job.state == "queued" and "lead" in (job.payload or {})
    if (job.state == "queued" and not waiting) or not job.stages:
        return _placeholder(job)
    timeline = Timeline.from_json(job.stages)
    if job.state in ("failed", "cancelled"):
        timeline.fail_unfinished(job.last_error or "processing stopped")
    return timeline


def effective_stages(jobs: list[Job]) -> tuple[Timeline, Job | None]:
    """The stages of the video's last transcode with later rendition jobs laid over them, and
    the newest of those jobs (None: the video was never queued)."""
    transcodes = [j for j in jobs if j.kind == TRANSCODE]
    if not transcodes:
        return Timeline(), None
    base = transcodes[-1]
    timeline = _stages_of(base)
    newest = base
    _lay_chunks(timeline, base, jobs)
    for job in jobs:
        if job.kind != RENDITION or job.id < base.id:
            continue
        newest = job
        names = list((job.payload or {}).get("renditions") or [])
        if job.state == "queued" or not job.stages:
            for name in names:
                stage = timeline.stage("encode", name)
                if job.state in ("failed", "cancelled"):
                    timeline.fail("encode", name, job.last_error or "the retry failed")
                    continue
                stage.state, stage.progress, stage.error = "pending", 0.0, None
                stage.detail = f"retry queued (attempt {job.attempts + 1} of {job.max_attempts})"
            continue
        for stage in _stages_of(job).stages:
            if stage.name == "encode" and stage.rendition is not None:
                timeline.put(stage)
    return timeline, newest


def _lay_chunks(timeline: Timeline, base: Job, jobs: list[Job]) -> None:
    """The chunks of a chunked transcode: one ``chunk`` stage each (its state and progress),
    and the progress of the renditions they encode (the mean over the chunks)."""
    chunks = [j for j in jobs if j.kind == CHUNK and (j.payload or {}).get("parent") == base.id]
    if not chunks:
        return
    done: dict[str, list[float]] = {}
    for job in chunks:
        payload = job.payload or {}
        index = int(payload.get("chunk", {}).get("index", 0))
        stage = timeline.stage("chunk", str(index + 1))
        stage.state = _CHUNK_STATES.get(job.state, "pending")
        stage.progress = 1.0 if job.state == "succeeded" else job.progress
        stage.started_at = _iso(job.started_at)
        stage.finished_at = _iso(job.finished_at)
        span = payload.get("chunk", {})
        end = span.get("end_s")
        until = "the end" if end is None else f"{float(end):.0f} s"
        names = ", ".join(rendition_label(n) for n in payload.get("rungs", []))
        stage.detail = f"{float(span.get('start_s', 0)):.0f} s to {until}: {names}"
        stage.error = job.last_error if job.state == "failed" else None
        for name in payload.get("rungs", []):
            done.setdefault(name, []).append(stage.progress)
    for name, values in done.items():
        stage = timeline.stage("encode", name)
        if stage.state == "running":
            stage.progress = sum(values) / len(chunks)


_CHUNK_STATES: dict[str, StageState] = {
    "queued": "pending",
    "running": "running",
    "succeeded": "done",
    "failed": "failed",
    "cancelled": "skipped",
}


def failed_renditions(jobs: list[Job]) -> list[str]:
    """The renditions whose latest encode failed (a retry of them is allowed)."""
    timeline, _ = effective_stages(jobs)
    return timeline.failed_renditions()


def _upload_stage(video: Video, upload: Upload | None) -> Stage:
    stage = Stage(name="upload")
    if upload is None:
        stage.state, stage.progress = "done", 1.0
        stage.finished_at = _iso(video.created_at)
        return stage
    stage.started_at = _iso(upload.created_at)
    stage.progress = upload.offset / upload.length if upload.length else 1.0
    if upload.completed_at is not None:
        stage.state, stage.progress, stage.finished_at = "done", 1.0, _iso(upload.completed_at)
    elif video.status == "uploading":
        stage.state = "running"
    if upload.completed_at is not None:
        stage.detail = f"{human_bytes(upload.length)} received"
    else:
        stage.detail = f"{human_bytes(upload.offset)} of {human_bytes(upload.length)} received"
    return stage


def permanent_failure(video: Video, jobs: list[Job]) -> bool:
    """Whether the video failed for good for a reason another try cannot fix: the video's
    reason is its last transcode's own, unprefixed (a retryable failure reads "transcoding
    failed after N attempts: ...", a dead worker "processing stopped: ...")."""
    transcodes = [j for j in jobs if j.kind == TRANSCODE]
    if video.status != "failed" or not transcodes:
        return False
    last = transcodes[-1]
    return last.state == "failed" and bool(last.last_error) and video.error == last.last_error


def eta_seconds(job: Job | None, now: dt.datetime, progress: float | None = None) -> float | None:
    """Seconds left for a running attempt, extrapolated from its whole elapsed time and its
    progress (``progress``, else the job's own)."""
    if job is None or job.state != "running" or job.started_at is None:
        return None
    p = max(0.0, min(1.0, job.progress if progress is None else progress))
    if p < MIN_PROGRESS_FOR_ETA:
        return None
    elapsed = (now - job.started_at).total_seconds()
    return round(max(0.0, elapsed * (1 - p) / p), 1)


def compose(
    video: Video, jobs: list[Job], upload: Upload | None, now: dt.datetime | None = None
) -> Composed:
    now = now or utcnow()
    timeline, newest = effective_stages(jobs)
    if video.status == "ready":
        publish = timeline.stage("publish")
        if publish.state != "done":
            publish.state, publish.progress = "done", 1.0
        publish.finished_at = publish.finished_at or _iso(video.ready_at)
    stages = [_upload_stage(video, upload), *timeline.stages]
    busy = any(j.state in _ACTIVE for j in jobs if j.kind in (TRANSCODE, RENDITION))
    active = newest is not None and newest.state in _ACTIVE
    if video.status == "ready" and not active:
        progress = 1.0
    elif active and video.status in ("queued", "processing", "ready"):
        progress = overall_progress(timeline.stages)
    else:
        progress = 0.0
    retryable = not permanent_failure(video, jobs)
    return Composed(
        status=video.status,
        error=video.error,
        progress=max(0.0, min(1.0, progress)),
        eta_s=eta_seconds(newest, now, progress),
        stages=stages,
        job=JobSummary.of(newest) if newest is not None else None,
        retryable=retryable,
        can_retry_video=video.status == "failed" and not busy and retryable,
        retry_renditions=(
            timeline.failed_renditions() if video.status == "ready" and not busy else []
        ),
    )
