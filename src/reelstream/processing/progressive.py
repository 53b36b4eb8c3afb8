"""Publishing a rev while it is still being produced: a video plays seconds after its upload.

A transcode attempt encodes the lowest rung with the audio (and the storyboard thumbnails) in a
*lead* ffmpeg at normal priority, beside the rest of the ladder at a lower one
(``ladder_job``). The lead writes EVENT playlists, each segment listed once it is complete;
``Progressive`` follows them:

1. every new segment is stored as soon as it appears (a copy: packaging measures the local
   files later);
2. then the rendition's growing media playlist is stored (``reelstream.media.hls.
   media_playlist``: EVENT, started at the beginning, segments only ever appended);
3. once the lead rung and the audio have a segment each, one transaction, fenced on the lease
   and holding the video's row lock, writes the master (the lead rung only) and a dynamic
   DASH MPD, and points the video at the rev: ``playable`` is true, the status stays
   ``processing``, the renditions still being encoded are listed as not playable yet,
   ``video.playable`` is emitted;
4. every longer playlist stored is followed by the dynamic MPD of the segments stored
   (``videos.publishing.write_growing_mpd``);
5. when the lead ends, its playlists get ``EXT-X-ENDLIST`` and the MPD becomes static. The
   final publish (``pipeline.Attempt.finish``) is the same state change as ever, on the same
   rev: the master then lists every rung, each complete.

Nothing published names a missing object: a playlist is stored only after the segments it
lists, the master only after the playlists it names, and a rung joins the master only when
its every segment exists. The lead encodes a 1080p source at about ten times real time on
this project's 2-core machine while the rest of the ladder runs (docs/benchmarks.md), so the
growing playlist stays far ahead of any viewer.

A rev players may hold is never deleted by its attempt or by the reaper: an attempt that dies
after the rev was published leaves it published; the job's next attempt resumes into it
(``resume``: it encodes the lead again and never stores a playlist shorter than the one players
saw), and a job that fails for good unpublishes it and retires it after the playback grace
period (``videos.repository.mark_failed``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from reelstream import webhooks
from reelstream.media.ffmpeg import AUDIO_NAME, PLAYLIST_NAME
from reelstream.media.hls import media_playlist
from reelstream.media.ladder import RungPlan
from reelstream.media.layout import Layout, Track
from reelstream.media.packaging import measure_track, parse_media_playlist
from reelstream.media.probe import MediaInfo
from reelstream.processing import milestones
from reelstream.queue.errors import LeaseLost
from reelstream.storage.errors import BlobNotFound
from reelstream.videos import repository as videos
from reelstream.videos.captions import list_captions
from reelstream.videos.domain import VideoRendition
from reelstream.videos.publishing import write_growing_mpd, write_manifests

if TYPE_CHECKING:
    from reelstream.processing.pipeline import Attempt

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often the lead's playlists are read while it runs
MPD_EVERY_S = 2.0  # the dynamic MPD is rewritten at most this often (players reload it each 1 s)
STORE_CONCURRENCY = 4


@dataclass
class _Followed:
    """One growing rendition (the lead rung or the audio)."""

    name: str
    rung: RungPlan | None  # None: the audio
    floor: int = 0  # segments players may already have seen (a resumed rev)
    init: str | None = None
    stored: list[tuple[str, float]] = field(default_factory=list)  # (uri, duration), in order
    listed: int = 0  # segments in the playlist last stored
    ended: bool = False


def rendition_specs(
    layout: Layout, rungs: list[RungPlan], *, growing: frozenset[str] = frozenset()
) -> list[VideoRendition]:
    """The renditions the video lists for ``layout``: the measured ones (complete, or playable
    while they grow when named in ``growing``), then the planned ones not encoded yet."""
    audio = layout.audio
    specs = [
        VideoRendition(
            name=v.name,
            width=v.width,
            height=v.height,
            bandwidth=v.peak_bps + (audio.peak_bps if audio else 0),
            average_bandwidth=v.average_bps + (audio.average_bps if audio else 0),
            codecs=v.codec + (f",{audio.codec}" if audio else ""),
            playlist=v.playlist,
            ready=v.name not in growing,
            playable=True,
        )
        for v in layout.videos
    ]
    measured = {v.name for v in layout.videos}
    specs += [
        VideoRendition(
            name=r.name,
            width=r.width,
            height=r.height,
            bandwidth=r.maxrate_kbps * 1000,
            average_bandwidth=None,
            codecs=None,
            playlist=r.playlist,
            ready=False,
            playable=False,
        )
        for r in rungs
        if r.name not in measured
    ]
    return sorted(specs, key=lambda s: (s.height, s.bandwidth))


class Progressive:
    """Follows the lead encode's output folder and publishes the rev while it grows."""

    def __init__(
        self,
        attempt: Attempt,
        out: Path,
        lead: RungPlan,
        rungs: list[RungPlan],
        info: MediaInfo,
        *,
        resumed: dict[str, int] | None = None,
    ) -> None:
        self.attempt = attempt
        self.out = out
        self.rungs = rungs
        self.info = info
        names: list[tuple[str, RungPlan | None]] = [(lead.name, lead)]
        if info.has_audio:
            names.append((AUDIO_NAME, None))
        floors = resumed or {}
        self.followed = [_Followed(n, r, floor=floors.get(n, 0)) for n, r in names]
        self.published = resumed is not None  # a resumed rev is published already
        self.stored = attempt.stored  # files stored, relative to the rev folder (shared)
        self._mpd_at = float("-inf")  # when the dynamic MPD was last written (monotonic)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.followed]

    async def follow(self, lead: asyncio.Task[Any]) -> None:
        """Store and publish what the lead writes until it ends (then ``finish``)."""
        while not lead.done():
            await self.step(ended=False)
            await asyncio.wait({lead}, timeout=POLL_S)

    async def finish(self) -> None:
        """The lead succeeded: store the rest of it, with ENDLIST; publish if not yet."""
        await self.step(ended=True)

    async def step(self, *, ended: bool) -> None:
        for followed in self.followed:
            await self._store_new(followed, ended=ended)
        if not self.published:
            if all(f.stored for f in self.followed):
                await self._write_playlists()
                await self._publish_playable()
        else:
            await self._write_playlists()

    # -- storing what ffmpeg wrote

    async def _store_new(self, f: _Followed, *, ended: bool) -> None:
        path = self.out / f.name / PLAYLIST_NAME
        try:
            text = await anyio.to_thread.run_sync(path.read_text)
        except FileNotFoundError:
            return
        playlist = parse_media_playlist(text)
        if playlist.init_uri is None:
            return
        store = self.attempt.services.store
        prefix = self.attempt.prefix
        if f.init is None:
            rel = f"{f.name}/{playlist.init_uri}"
            self.stored[rel] = (await store.put_file(f"{prefix}/{rel}", self.out / rel)).size
            f.init = playlist.init_uri
        new = playlist.segments[len(f.stored) :]
        limiter = anyio.CapacityLimiter(STORE_CONCURRENCY)

        async def put(rel: str) -> None:
            async with limiter:
                self.stored[rel] = (await store.put_file(f"{prefix}/{rel}", self.out / rel)).size

        async with anyio.create_task_group() as tg:
            for seg in new:
                tg.start_soon(put, f"{f.name}/{seg.uri}")
        f.stored += [(seg.uri, seg.duration_s) for seg in new]
        f.ended = ended and playlist.ended

    async def _write_playlists(self) -> None:
        """Store each growing playlist that has more to say than the last one stored (never
        fewer segments than players may have seen)."""
        target = self.attempt.options.segment_s
        store = self.attempt.services.store
        wrote = False
        for f in self.followed:
            if f.init is None or len(f.stored) < f.floor:
                continue
            if len(f.stored) == f.listed and not f.ended:
                continue
            text = media_playlist(f.init, f.stored, target_s=target, ended=f.ended)
            rel = f"{f.name}/{PLAYLIST_NAME}"
            info = await store.put_bytes(f"{self.attempt.prefix}/{rel}", text.encode())
            self.stored[rel] = info.size
            f.listed = len(f.stored)
            if f.ended:
                f.listed = -1  # written for good
            wrote = True
        # the dynamic MPD follows the playlists (never shorter than players may have seen)
        # (at most every MPD_EVERY_S: each write measures every segment stored so far)
        ended = all(f.ended for f in self.followed)
        if (
            wrote
            and self.attempt.rev_published
            and all(len(f.stored) >= f.floor for f in self.followed)
            and (ended or time.monotonic() - self._mpd_at >= MPD_EVERY_S)
        ):
            self._mpd_at = time.monotonic()
            layout = await anyio.to_thread.run_sync(self._layout)
            await write_growing_mpd(
                self.attempt.services, self.attempt.video_id, self.attempt.rev, layout, ended=ended
            )

    # -- the first publish

    def _layout(self) -> Layout:
        """The growing rev as the manifests describe it: the tracks stored so far."""
        tracks: dict[str, Track] = {}
        for f in self.followed:
            measured = measure_track(self.out, f.name, f.rung, growing=True, limit=len(f.stored))
            tracks[f.name] = measured.track
        lead = self.followed[0].name
        return Layout(
            videos=[tracks[lead]],
            audio=tracks.get(AUDIO_NAME),
            duration_s=self.info.duration_s,
            growing=True,
        )

    async def _publish_playable(self) -> None:
        attempt = self.attempt
        services = attempt.services
        layout = await anyio.to_thread.run_sync(self._layout)
        specs = rendition_specs(layout, self.rungs, growing=frozenset({self.followed[0].name}))
        attempt.timeline.done("playable")
        async with services.db.transaction() as s:
            video = await videos.get_video(s, attempt.video_id, for_update=True)
            if video.published_rev not in (None, attempt.rev):
                # a complete rev is published: viewers keep it until the final publish
                attempt.timeline.skip("playable", None, "an earlier version is published")
                self.published = True
                return
            first = video.published_rev is None and video.ready_at is None
            done_at = await milestones.upload_done_at(s, video) if first else None
            if not await services.queue.touch(s, attempt.lease, attempt.timeline.to_json()):
                raise LeaseLost("the job's lease was lost before the video became playable")
            captions = await list_captions(s, attempt.video_id)
            written = await write_manifests(
                services, attempt.video_id, attempt.rev, layout, captions
            )
            await videos.publish_playable(s, attempt.video_id, rev=attempt.rev, renditions=specs)
            video.layout = layout.to_json()
            # the poster is stored with the final publish
            video.media = {**written.media, "poster": None, "growing": [self.followed[0].name]}
            await s.flush()
            await webhooks.emit(s, "video.playable", video)
        self.published = True
        attempt.rev_published = True
        milestones.observe(services.metrics, done_at, ("playable",))
        attempt.timeline.done("playable")  # stamped again: when it was committed
        await attempt.save()
        log.info("video %s: playable from rev %s", attempt.video_id, attempt.rev)


async def resume_floors(attempt: Attempt, names: list[str]) -> dict[str, int]:
    """How many segments players may have seen of each growing playlist of the published rev
    this attempt resumes into."""
    floors: dict[str, int] = {}
    store = attempt.services.store
    for name in names:
        try:
            text = (await store.get_bytes(f"{attempt.prefix}/{name}/{PLAYLIST_NAME}")).decode()
        except BlobNotFound:
            continue
        floors[name] = len(parse_media_playlist(text).segments)
    return floors
