"""Request and response bodies of the video API (the contract in ``docs/api.md``).

Responses are built from the domain objects (``reelstream.videos.domain``, the cached
``VideoView``) field by field (``from_attributes``, from ``reelstream.http.schemas.Schema``).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from reelstream.http.schemas import RequestBody, Schema
from reelstream.videos.titles import MAX_DESCRIPTION_CHARS

VideoStatus = Literal["uploading", "queued", "processing", "ready", "failed"]
Visibility = Literal["public", "unlisted", "private"]


class RenditionOut(Schema):
    name: str
    width: int
    height: int
    bandwidth: int = Field(description="Peak bits per second (HLS BANDWIDTH)")
    average_bandwidth: int | None = Field(description="Average bits per second")
    codecs: str | None
    ready: bool = Field(description="Every segment exists: the rendition is complete")
    playable: bool = Field(
        description="Players can stream it now: complete, or (while the video is still "
        "processing) growing ahead of playback"
    )


class JobOut(Schema):
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    attempts: int
    max_attempts: int
    progress: float = Field(description="0.0 .. 1.0 of the current attempt")
    last_error: str | None


class CaptionTrackOut(Schema):
    lang: str = Field(description="BCP 47 language tag, e.g. en or pt-BR")
    label: str = Field(description="The name players show")
    url: str | None = Field(description="Signed WebVTT URL in the published rev")


class VideoOut(Schema):
    id: str
    title: str
    description: str = Field(default="", description="Free text shown under the player")
    filename: str
    visibility: Visibility
    status: VideoStatus
    playable: bool = Field(description="True once at least one rendition can be streamed")
    duration_s: float | None
    width: int | None
    height: int | None
    renditions: list[RenditionOut]
    error: str | None = Field(description="Why the video failed, in words a user understands")
    progress: float = Field(description="Processing progress 0.0 .. 1.0 (1.0 when ready)")
    job: JobOut | None
    poster_url: str | None = Field(description="Signed poster image URL once ready")
    storyboard_url: str | None = Field(
        default=None,
        description="Signed WebVTT of seek-preview thumbnails (sprite#xywh=x,y,w,h cues)",
    )
    captions: list[CaptionTrackOut] = Field(
        default_factory=list, description="Published caption tracks"
    )
    view_count: int = Field(
        default=0, description="Views counted so far (eventually consistent: written in batches)"
    )
    resume_position_s: float | None = Field(
        default=None,
        description="Where the signed-in caller stopped watching (GET of one video only)",
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    ready_at: dt.datetime | None


class VideoPage(Schema):
    items: list[VideoOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at end")


class VideoPatch(RequestBody):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    visibility: Visibility | None = None


class PlaybackOut(Schema):
    hls_url: str = Field(description="Signed HLS master playlist URL")
    dash_url: str | None = Field(
        description="Signed DASH manifest (MPD) URL over the same segments"
    )
    expires_at: dt.datetime


class CaptionOut(Schema):
    lang: str
    label: str
    cues: int = Field(description="Number of cues")
    bytes: int = Field(description="Size of the stored WebVTT")
    url: str | None = Field(description="Signed WebVTT URL in the published rev")
    created_at: dt.datetime
    updated_at: dt.datetime


class CaptionList(Schema):
    items: list[CaptionOut]


class PosterRequest(RequestBody):
    at_s: float = Field(ge=0, description="Time of the frame, 0 <= at_s < duration_s")


class PosterJobOut(Schema):
    video_id: str
    at_s: float
    job_state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
