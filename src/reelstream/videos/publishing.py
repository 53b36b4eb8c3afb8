"""Writing a rev's manifests, and changing a published video's captions.

The manifests of a rev (``master.m3u8``, ``manifest.mpd``) are pure functions of its
``Layout`` (kept in ``videos.layout``), the video's captions (``captions`` rows, WebVTT text
in the blob store) and ``settings.audio_only_rung``. They are written:

* by a transcode attempt, inside the transaction that publishes its rev, so a new rev always
  carries the captions the video has at that moment;
* again, under the same rev, whenever a caption is added, replaced or removed.

Every such write happens while holding the video's row lock (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite writers are serialized by ``BEGIN IMMEDIATE``), with the caption rows read in
that same transaction: two caption uploads for one video, or an upload racing a publish, take
turns, and the last manifest written always lists every committed caption.

A rev published while it is still produced (``Layout.growing``) gets a dynamic MPD
(``reelstream.media.dash``): written with the master when the rev first becomes playable, then
again by ``write_growing_mpd`` each time the growing playlists are stored longer
(``reelstream.processing.progressive``), with the same ``availabilityStartTime`` every time
(read back from the MPD it replaces), and ended once the lead is complete. The final publish
writes the static MPD at the same URL.

Playback in progress is never broken: segments are untouched; caption files get
content-addressed names (``subs/en-<sha>.vtt``), so a name never changes meaning and stays
immutable for caches; the MPD is written before the master, each in one PUT (atomic on every
backend); players re-read manifests only after their short cache TTL. A removed caption's
files stay in the rev (a player that loaded the old master can still fetch them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reelstream.db.models import Caption, Video
from reelstream.media.captions import clean_label, normalize_lang, parse_caption
from reelstream.media.dash import Growing, availability_start, mpd_document
from reelstream.media.hls import master_playlist, subtitle_playlist, timestamp_map
from reelstream.media.layout import (
    MASTER_NAME,
    MPD_NAME,
    POSTER_NAME,
    Layout,
    SubtitleTrack,
    subtitle_files,
)
from reelstream.storage.errors import BlobNotFound, StorageError
from reelstream.storage.keys import caption_key, rev_prefix
from reelstream.videos import captions as caption_repo
from reelstream.videos import repository as videos
from reelstream.videos.errors import CaptionNotFound, VideoNotReady

if TYPE_CHECKING:
    from reelstream.services import Services

log = logging.getLogger(__name__)


def subtitle_track(caption: Caption) -> SubtitleTrack:
    return subtitle_files(caption.lang, caption.label, caption.sha256)


@dataclass(frozen=True)
class Written:
    media: dict[str, Any]  # for ``videos.media`` (without the poster)
    bytes_written: int


async def write_manifests(
    services: Services,
    video_id: str,
    rev: str,
    layout: Layout,
    captions: list[Caption],
) -> Written:
    """Copy the captions into the rev, then write the MPD and (last) the master playlist."""
    store = services.store
    prefix = rev_prefix(video_id, rev)
    written = 0
    tracks = []
    header = timestamp_map(layout.videos[0])
    for caption in captions:
        track = subtitle_track(caption)
        try:
            await store.stat(f"{prefix}/{track.vtt}")
        except BlobNotFound:
            text = (await store.get_bytes(caption.storage_key)).decode("utf-8")
            if header is not None:
                text = text.replace("WEBVTT", f"WEBVTT\n{header}", 1)
            info = await store.put_bytes(f"{prefix}/{track.vtt}", text.encode("utf-8"))
            written += info.size
        name = track.vtt.rsplit("/", 1)[1]
        playlist = subtitle_playlist(name, layout.duration_s).encode()
        written += (await store.put_bytes(f"{prefix}/{track.playlist}", playlist)).size
        tracks.append(track)
    audio_only = services.settings.audio_only_rung
    growing = await _growing_anchor(services, prefix, layout) if layout.growing else None
    mpd = mpd_document(layout, tracks, audio_only=audio_only, growing=growing).encode()
    written += (await store.put_bytes(f"{prefix}/{MPD_NAME}", mpd)).size
    master = master_playlist(layout, tracks, audio_only=audio_only).encode()
    written += (await store.put_bytes(f"{prefix}/{MASTER_NAME}", master)).size
    media: dict[str, Any] = {
        "dash": MPD_NAME,
        "storyboard": layout.storyboard,
        "captions": [{"lang": t.lang, "label": t.label, "vtt": t.vtt} for t in tracks],
    }
    return Written(media, written)


async def _growing_anchor(
    services: Services, prefix: str, layout: Layout, *, ended: bool = False
) -> Growing:
    """The time anchor of a growing rev's next dynamic MPD: the ``availabilityStartTime`` of the
    one it replaces (it never changes for the rev), or a new one."""
    now = dt.datetime.now(dt.UTC)
    try:
        previous = (await services.store.get_bytes(f"{prefix}/{MPD_NAME}")).decode()
    except BlobNotFound:
        previous = ""
    since = availability_start(previous)
    if since is None:
        return replace(Growing.first(now, layout.duration_s), ended=ended)
    return Growing(available_since=since, published=now, ended=ended)


async def write_growing_mpd(
    services: Services, video_id: str, rev: str, layout: Layout, *, ended: bool
) -> None:
    """Rewrite the dynamic MPD of a rev published while it grows, from ``layout`` (the segments
    stored so far, ``Layout.growing``); ``ended``: every listed track is complete."""
    async with services.db.read() as s:
        captions = await caption_repo.list_captions(s, video_id)
    prefix = rev_prefix(video_id, rev)
    tracks = [subtitle_track(c) for c in captions]  # copied into the rev when it was published
    growing = await _growing_anchor(services, prefix, layout, ended=ended)
    mpd = mpd_document(
        layout, tracks, audio_only=services.settings.audio_only_rung, growing=growing
    )
    await services.store.put_bytes(f"{prefix}/{MPD_NAME}", mpd.encode())


async def load_layout(session: AsyncSession, video_id: str) -> Layout | None:
    raw = (await session.execute(select(Video.layout).where(Video.id == video_id))).scalar()
    return Layout.from_json(raw) if raw else None


async def _locked_ready(session: AsyncSession, video_id: str) -> tuple[Video, Layout]:
    video = await videos.get_video(session, video_id, for_update=True)
    if video.status != "ready" or video.published_rev is None:
        raise VideoNotReady(
            f"the video is {video.status}; captions can be changed once it is ready"
        )
    layout = await load_layout(session, video_id)
    if layout is None:
        raise VideoNotReady(
            "the video was packaged by an older version without caption support; "
            "transcode it again to add captions"
        )
    return video, layout


async def _republish(
    services: Services, session: AsyncSession, video: Video, layout: Layout
) -> list[Caption]:
    assert video.published_rev is not None
    captions = await caption_repo.list_captions(session, video.id)
    written = await write_manifests(services, video.id, video.published_rev, layout, captions)
    poster = (video.media or {}).get("poster", POSTER_NAME)
    video.media = {**written.media, "poster": poster}
    await session.flush()
    return captions


async def add_caption(
    services: Services, video_id: str, *, lang: str, label: str | None, data: bytes
) -> tuple[Caption, bool]:
    """Validate and store a WebVTT/SRT file as the caption of ``lang``, and publish it.
    Returns the caption and whether it is new (not a replacement)."""
    lang = normalize_lang(lang)
    label = clean_label(label, lang)
    parsed = parse_caption(data)
    text = parsed.to_text().encode("utf-8")
    sha = hashlib.sha256(text).hexdigest()
    key = caption_key(video_id, lang, sha)
    old_key: str | None = None
    async with services.db.transaction() as s:
        video, layout = await _locked_ready(s, video_id)
        existing = await caption_repo.get_caption(s, video_id, lang)
        if existing is not None and existing.storage_key != key:
            old_key = existing.storage_key
        await services.store.put_bytes(key, text)
        caption, created = await caption_repo.put_caption(
            s,
            video_id,
            lang=lang,
            label=label,
            storage_key=key,
            sha256=sha,
            size=len(text),
            cues=len(parsed.cues),
        )
        await _republish(services, s, video, layout)
    if old_key is not None:
        await _delete_quietly(services, old_key)
    return caption, created


async def remove_caption(services: Services, video_id: str, lang: str) -> None:
    lang = normalize_lang(lang)
    async with services.db.transaction() as s:
        video, layout = await _locked_ready(s, video_id)
        caption = await caption_repo.get_caption(s, video_id, lang)
        if caption is None:
            raise CaptionNotFound(f"the video has no caption in {lang!r}")
        key = caption.storage_key
        await caption_repo.delete_caption(s, caption)
        await _republish(services, s, video, layout)
    await _delete_quietly(services, key)


async def list_video_captions(services: Services, video_id: str) -> tuple[Video, list[Caption]]:
    async with services.db.read() as s:
        video = await videos.get_video(s, video_id)
        return video, await caption_repo.list_captions(s, video_id)


async def _delete_quietly(services: Services, key: str) -> None:
    try:
        await services.store.delete(key)
    except StorageError as exc:
        log.warning("cannot remove the replaced caption file %s: %s", key, exc)
