"""Response bodies of the processing API: ``GET /api/v1/videos/{id}/timeline`` and the retries
(the contract in ``docs/api.md``)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from reelstream.http.schemas import Schema
from reelstream.videos.schemas import VideoStatus


class StageOut(Schema):
    """One step of a video's processing (``reelstream.processing.timeline``)."""

    name: Literal["upload", "probe", "playable", "encode", "chunk", "package", "publish"]
    rendition: str | None = Field(
        description="encode stages: the rendition, e.g. v720 or audio; chunk stages: the "
        "chunk's number (1, 2, ...)"
    )
    state: Literal["pending", "running", "done", "failed", "skipped"]
    progress: float = Field(description="0.0 .. 1.0")
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    detail: str | None = Field(description="What the stage found or did")
    error: str | None = Field(description="Why the stage failed, in plain words")


class TimelineJobOut(Schema):
    id: int
    kind: Literal["transcode", "rendition", "poster"] | str
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    attempts: int
    max_attempts: int
    run_at: dt.datetime = Field(description="When a queued job is due (a retry's backoff)")
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    last_error: str | None
    renditions: list[str] = Field(description="A rendition job's renditions")


class RetryOptionsOut(Schema):
    """What the caller may retry now (always empty for those who may not retry)."""

    video: bool = Field(description="POST /api/v1/videos/{id}/retry is possible")
    renditions: list[str] = Field(
        description="Renditions POST /api/v1/videos/{id}/renditions/{name}/retry accepts"
    )


class TimelineOut(Schema):
    video_id: str
    status: VideoStatus
    error: str | None
    progress: float = Field(description="0.0 .. 1.0 of the processing in progress")
    eta_s: float | None = Field(description="Seconds left, from the pace so far (null: unknown)")
    stages: list[StageOut]
    job: TimelineJobOut | None = Field(description="The newest transcode or rendition job")
    retry: RetryOptionsOut
    retryable: bool = Field(
        default=True,
        description="False when the video failed for a reason a retry cannot fix (the file "
        "itself): upload a different file instead",
    )
