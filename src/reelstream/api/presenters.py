"""From database rows to the public JSON: ``VideoOut``, ``PlaybackOut`` and signed media URLs.

Signed URLs put the token in the path (``/media/{video_id}/{rev}/{token}/{file}``), so relative
URIs inside the playlists inherit it and any HLS client can play the URL as it is.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from reelstream.api.schemas import JobOut, PlaybackOut, RenditionOut, VideoOut
from reelstream.auth.tokens import TokenSigner
from reelstream.db.errors import VideoNotPlayable
from reelstream.db.models import Job, Video

MASTER_PLAYLIST = "master.m3u8"
POSTER = "poster.jpg"


@dataclass(frozen=True)
class MediaLinks:
    """Everything needed to sign media URLs for one response: where, with which key, until."""

    base_url: str
    signer: TokenSigner
    expires: int

    @classmethod
    def create(
        cls, *, public_base_url: str | None, request_base_url: str, signer: TokenSigner, ttl_s: int
    ) -> MediaLinks:
        base = (public_base_url or request_base_url).rstrip("/")
        return cls(base_url=base, signer=signer, expires=int(time.time()) + ttl_s)

    @property
    def expires_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.expires, dt.UTC)

    def url(self, video_id: str, rev: str, path: str) -> str:
        token = self.signer.sign(video_id, self.expires)
        return f"{self.base_url}/media/{video_id}/{rev}/{token}/{path}"


def is_playable(video: Video) -> bool:
    return video.published_rev is not None and any(r.ready for r in video.renditions)


def job_out(job: Job) -> JobOut:
    return JobOut.model_validate(
        {
            "state": job.state,
            "attempts": job.attempts,
            "max_attempts": job.max_attempts,
            "progress": job.progress,
            "last_error": job.last_error,
        }
    )


def video_out(video: Video, job: Job | None, links: MediaLinks) -> VideoOut:
    """``job`` is the video's newest job (``JobQueue.active_job``), if it has one."""
    if video.status == "ready":
        progress = 1.0
    elif job is not None:
        progress = max(0.0, min(1.0, job.progress))
    else:
        progress = 0.0
    rev = video.published_rev
    return VideoOut.model_validate(
        {
            "id": video.id,
            "title": video.title,
            "filename": video.filename,
            "visibility": video.visibility,
            "status": video.status,
            "playable": is_playable(video),
            "duration_s": video.duration_s,
            "width": video.width,
            "height": video.height,
            "renditions": [
                RenditionOut(
                    name=r.name,
                    width=r.width,
                    height=r.height,
                    bandwidth=r.bandwidth,
                    average_bandwidth=r.average_bandwidth,
                    codecs=r.codecs,
                    ready=r.ready,
                )
                for r in video.renditions
            ],
            "error": video.error,
            "progress": progress,
            "job": job_out(job) if job is not None else None,
            "poster_url": links.url(video.id, rev, POSTER) if rev is not None else None,
            "created_at": video.created_at,
            "updated_at": video.updated_at,
            "ready_at": video.ready_at,
        }
    )


def _not_playable_reason(video: Video) -> str:
    if video.status == "failed":
        return f"the video failed to process: {video.error or 'unknown error'}"
    if video.status == "uploading":
        return "the video is still being uploaded"
    if video.status in ("queued", "processing"):
        return f"the video is {video.status}; it can be played once transcoding finishes"
    return f"the video has no playable rendition (status {video.status})"


def playback_out(video: Video, links: MediaLinks) -> PlaybackOut:
    """Signed playback URLs, or ``VideoNotPlayable`` saying why there are none yet."""
    if video.published_rev is None or not is_playable(video):
        raise VideoNotPlayable(_not_playable_reason(video))
    return PlaybackOut(
        hls_url=links.url(video.id, video.published_rev, MASTER_PLAYLIST),
        dash_url=None,  # DASH packaging comes in a later issue
        expires_at=links.expires_at,
    )
