"""From database rows (or their cached ``VideoView``) to the public JSON: ``VideoOut``,
``PlaybackOut``, ``CaptionOut`` and signed media URLs (signed per response, never cached).

Processing detail (``job``, the uploader's ``filename``, the failure reason in ``error``) is
for the owner and admins (the ``inspect`` action of ``reelstream.auth.policy``): every other
caller gets the same fields with their values withheld (``detail=False``).

Signed URLs put the token in the path (``/media/{video_id}/{rev}/{token}/{file}``), so relative
URIs inside the playlists inherit it and any HLS client can play the URL as it is.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from reelstream.auth.tokens import TokenSigner
from reelstream.db.models import Caption, Job, Video
from reelstream.videos.cache import VideoView
from reelstream.videos.errors import VideoNotPlayable
from reelstream.videos.publishing import subtitle_track
from reelstream.videos.schemas import CaptionOut, CaptionTrackOut, PlaybackOut, VideoOut

if TYPE_CHECKING:
    from reelstream.services import Services

MASTER_PLAYLIST = "master.m3u8"
POSTER = "poster.jpg"


def _media(view: VideoView) -> dict[str, Any]:
    """``videos.media`` of the published rev (empty for revs packaged before it existed)."""
    return view.media or {}


def poster_path(view: VideoView) -> str | None:
    """The poster of the published rev; None while a rev published as it grows has none yet
    (``media["poster"] is None`` until its final publish)."""
    media = _media(view)
    if "poster" in media and media["poster"] is None:
        return None
    return str(media.get("poster") or POSTER)


def caption_tracks(view: VideoView, links: MediaLinks) -> list[CaptionTrackOut]:
    rev = view.published_rev
    return [
        CaptionTrackOut(
            lang=c["lang"],
            label=c["label"],
            url=links.url(view.id, rev, c["vtt"]) if rev is not None else None,
        )
        for c in _media(view).get("captions") or []
    ]


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


def media_links(services: Services, request: Request, visibility: str) -> MediaLinks:
    """Signing for one response about a video of this visibility (its token lifetime)."""
    return MediaLinks.create(
        public_base_url=services.settings.public_base_url,
        request_base_url=str(request.base_url),
        signer=services.signer,
        ttl_s=services.settings.playback_ttl_for(visibility),
    )


def caption_out(caption: Caption, rev: str | None, links: MediaLinks) -> CaptionOut:
    track = subtitle_track(caption)
    return CaptionOut(
        lang=caption.lang,
        label=caption.label,
        cues=caption.cues,
        bytes=caption.bytes,
        url=links.url(caption.video_id, rev, track.vtt) if rev else None,
        created_at=caption.created_at,
        updated_at=caption.updated_at,
    )


NOT_AVAILABLE = "This video is not available."
"""What a failed video's ``error`` says to callers who may not see why it failed."""


def video_out(video: Video, job: Job | None, links: MediaLinks, *, detail: bool) -> VideoOut:
    """``job`` is the video's newest job (``JobQueue.active_job``), if it has one."""
    return view_out(VideoView.from_row(video, job), links, detail=detail)


def view_out(view: VideoView, links: MediaLinks, *, detail: bool) -> VideoOut:
    """The JSON of a video, from the database or the cache alike. ``detail``: the caller may
    ``inspect`` it (owner, admin); otherwise ``job`` is null, ``filename`` empty and a
    failed video's ``error`` a neutral sentence."""
    job = view.job
    if view.status == "ready":
        progress = 1.0
    elif job is not None:
        progress = max(0.0, min(1.0, job.progress))
    else:
        progress = 0.0
    rev = view.published_rev
    storyboard = _media(view).get("storyboard")
    poster = poster_path(view)
    # renditions and job: the view's own models, read field by field (from_attributes)
    return VideoOut.model_validate(
        {
            "id": view.id,
            "title": view.title,
            "description": view.description,
            "filename": view.filename if detail else "",
            "visibility": view.visibility,
            "status": view.status,
            "playable": view.playable,
            "duration_s": view.duration_s,
            "width": view.width,
            "height": view.height,
            "renditions": view.renditions,
            "error": view.error if detail else (NOT_AVAILABLE if view.status == "failed" else None),
            "progress": progress,
            "job": job if detail else None,
            "poster_url": links.url(view.id, rev, poster) if rev and poster else None,
            "storyboard_url": (
                links.url(view.id, rev, storyboard) if rev is not None and storyboard else None
            ),
            "captions": caption_tracks(view, links),
            "view_count": view.view_count,
            "created_at": view.created_at,
            "updated_at": view.updated_at,
            "ready_at": view.ready_at,
        },
        from_attributes=True,
    )


def _not_playable_reason(video: VideoView, detail: bool) -> str:
    if video.status == "failed":
        if not detail:
            return "the video is not available"
        return f"the video failed to process: {video.error or 'unknown error'}"
    if video.status == "uploading":
        return "the video is still being uploaded"
    if video.status in ("queued", "processing"):
        return f"the video is {video.status}; it can be played once transcoding finishes"
    return f"the video has no playable rendition (status {video.status})"


def playback_out(video: VideoView, links: MediaLinks, *, detail: bool = False) -> PlaybackOut:
    """Signed playback URLs, or ``VideoNotPlayable`` saying why there are none yet (why it
    failed only with ``detail``: see ``view_out``)."""
    if video.published_rev is None or not video.playable:
        raise VideoNotPlayable(_not_playable_reason(video, detail))
    mpd = _media(video).get("dash")
    return PlaybackOut(
        hls_url=links.url(video.id, video.published_rev, MASTER_PLAYLIST),
        dash_url=links.url(video.id, video.published_rev, mpd) if mpd else None,
        expires_at=links.expires_at,
    )
