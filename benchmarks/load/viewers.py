"""Viewers: each asks for a playback URL, reads the master playlist, picks a rung, and fetches
init segments and media segments at real-time pace through a ``BufferModel``.

One viewer, start to finish: ``GET /api/v1/videos/{id}/playback`` -> master -> the start rung's
playlist (and the audio rendition's, when the master names one) -> init(s) -> segments. After
each video segment the throughput it measured (bytes / download time, smoothed) picks the next
rung (``hls.choose_rung``); a new rung's playlist and init are fetched on the switch. Audio
segments are fetched to keep up with the video. Downloading pauses while the buffer holds
``max_buffer_s``; the viewer leaves after ``watch_s`` of play, at the end, or at the deadline.
A failed request is retried as the web player's hls.js is configured to (``RETRIES``: the
playback URL and playlists 4 times, init and media segments 6 times, 1 s apart doubling up to
8 s; a 4xx other than 429 is not retried); when the retries are spent the session ends
(``outcome = failed``): the player could not continue. A 404 on anything a playlist named
(a variant or audio playlist, an init, a segment) is kept with its URL in
``ViewerSession.missing``: a playlist then named a missing object.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx

from benchmarks.load.buffer import BufferModel
from benchmarks.load.client import BudgetSpent, timed
from benchmarks.load.config import is_loopback
from benchmarks.load.hls import MediaPlaylist, choose_rung, parse_master, parse_media
from benchmarks.load.recorder import Recorder, Sample, ViewerSession

RETRIES = {"viewer.playback": 4, "master": 4, "playlist": 4, "init": 6, "segment": 6}
"""Retries per request kind: the web player's hls.js load policies (``watch.js``:
``manifestLoadPolicy``/``playlistLoadPolicy`` 4, ``fragLoadPolicy`` 6 as hls.js's default)."""
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 8.0
NAMED_BY_PLAYLISTS = ("playlist", "init", "segment")  # a 404 here: a playlist named it
SMOOTHING = 0.5  # weight of the newest throughput measurement


class SessionFailed(Exception):
    pass


@dataclass(frozen=True)
class ViewerOptions:
    watch_s: float
    start_rung: int
    max_buffer_s: float
    allow_remote: bool
    deadline: float


class Viewer:
    def __init__(
        self, http: httpx.AsyncClient, recorder: Recorder, opts: ViewerOptions, video_id: str
    ) -> None:
        self.http = http
        self.rec = recorder
        self.opts = opts
        self.session = ViewerSession(recorder.now(), video_id)
        self.buffer = BufferModel(self.session.t)
        recorder.viewers.append(self.session)

    async def _get(self, kind: str, url: str) -> httpx.Response:
        retries = RETRIES.get(kind, 1)
        for attempt in range(retries + 1):
            r = await timed(self.http, self.rec, kind, "GET", url)
            if r is not None and r.status_code < 400:
                return r
            self.session.failed[kind] = self.session.failed.get(kind, 0) + 1
            if r is not None and r.status_code == 404 and kind in NAMED_BY_PLAYLISTS:
                self.session.missing.append(url)  # a playlist named what is not there
            if r is not None and 400 <= r.status_code < 500 and r.status_code != 429:
                break  # hls.js does not retry a client error either
            if attempt < retries:
                await asyncio.sleep(min(RETRY_FIRST_S * 2**attempt, RETRY_MAX_S))
        raise SessionFailed(kind)

    async def _media(self, kind: str, url: str) -> tuple[int, float]:
        """Fetch one media object; (bytes, seconds)."""
        start = self.rec.now()
        r = await self._get(kind, url)
        return len(r.content), max(1e-6, self.rec.now() - start)

    async def run(self, base_url: str) -> ViewerSession:
        s = self.session
        try:
            await self._play(base_url)
        except SessionFailed:
            s.outcome = "failed"
        except BudgetSpent:
            s.outcome = "cut"
        except asyncio.CancelledError:
            s.outcome = "cut"
            raise
        finally:
            b = self.buffer
            b.close(self.rec.now())
            s.startup_s, s.stalls, s.stall_s, s.play_s = b.startup_s, b.stalls, b.stall_s, b.play_s
        return s

    async def _play(self, base_url: str) -> None:
        opts, s = self.opts, self.session
        r = await self._get("viewer.playback", f"{base_url}/api/v1/videos/{s.video_id}/playback")
        hls_url = httpx.URL(r.json()["hls_url"])
        if not opts.allow_remote and not is_loopback(str(hls_url)):
            self.rec.record(Sample(self.rec.now(), "master", 0.0, 0, error="not loopback"))
            raise SessionFailed("master")
        master = parse_master((await self._get("master", str(hls_url))).text)
        rates = [v.bandwidth for v in master.variants]
        rung = choose_rung(rates, None, opts.start_rung)
        playlists: dict[int, MediaPlaylist] = {}

        async def playlist(i: int) -> MediaPlaylist:
            if i not in playlists:
                url = hls_url.join(master.variants[i].uri)
                playlists[i] = parse_media((await self._get("playlist", str(url))).text)
                init = playlists[i].init_uri
                if init:
                    await self._media("init", str(url.join(init)))
            return playlists[i]

        audio: MediaPlaylist | None = None
        audio_url = hls_url
        group = master.variants[rung].audio_group
        if group and group in master.audio:
            audio_url = hls_url.join(master.audio[group])
            audio = parse_media((await self._get("playlist", str(audio_url))).text)
            if audio.init_uri:
                await self._media("init", str(audio_url.join(audio.init_uri)))
        current = await playlist(rung)
        count = len(current.segments)
        video_end = audio_end = 0.0
        next_audio = 0
        throughput: float | None = None
        for i in range(count):
            if not await self._wait_for_room(video_end):
                return
            current = await playlist(rung)
            seg = current.segments[min(i, len(current.segments) - 1)]
            url = hls_url.join(master.variants[rung].uri).join(seg.uri)
            size, took = await self._media("segment", str(url))
            measured = size * 8 / took
            throughput = (
                measured
                if throughput is None
                else (SMOOTHING * measured + (1 - SMOOTHING) * throughput)
            )
            video_end += seg.duration_s
            while audio is not None and next_audio < len(audio.segments) and audio_end < video_end:
                a = audio.segments[next_audio]
                await self._media("segment", str(audio_url.join(a.uri)))
                audio_end += a.duration_s
                next_audio += 1
            self.buffer.add_segment(self.rec.now(), seg.duration_s)
            new = choose_rung(rates, throughput, opts.start_rung)
            if new != rung:
                s.rung_switches += 1
                rung = new
        self.buffer.mark_complete(self.rec.now())
        if await self._sleep_until(lambda: self.buffer.finished or self._watched()):
            s.outcome = "ended" if self.buffer.finished else "left"

    def _watched(self) -> bool:
        return self.buffer.play_s >= self.opts.watch_s

    async def _wait_for_room(self, downloaded_s: float) -> bool:
        """Wait while the buffer is full; False when the viewer leaves instead (watched
        enough, or the run ends)."""
        if downloaded_s >= self.opts.watch_s:
            await self._sleep_until(self._watched)
            return False
        return (
            await self._sleep_until(
                lambda: self.buffer.wait_s(self.opts.max_buffer_s) <= 0 or self._watched()
            )
            and not self._watched()
        )

    async def _sleep_until(self, done: Callable[[], bool]) -> bool:
        """Advance the buffer in wall time until ``done()``; False at the deadline. Bounded:
        each step sleeps at least 50 ms and the deadline is fixed."""
        while True:
            now = self.rec.now()
            self.buffer.advance(now)
            if done():
                return True
            if now >= self.opts.deadline or self.rec.stop.is_set():
                self.session.outcome = "cut"
                return False
            step = self.buffer.wait_s(self.opts.max_buffer_s) or self.buffer.buffered_s or 0.05
            await asyncio.sleep(max(0.05, min(step, 1.0, self.opts.deadline - now)))


async def run_viewers(
    http: httpx.AsyncClient,
    recorder: Recorder,
    base_url: str,
    opts: ViewerOptions,
    pick: Callable[[], str],
    arrivals: AsyncIterator[float],
    max_viewers: int,
) -> None:
    """Start a viewer at each arrival (at most ``max_viewers`` watching); at the end cancel
    the ones still watching."""
    active: set[asyncio.Task[ViewerSession]] = set()
    try:
        async for _ in arrivals:
            if len(active) >= max_viewers:
                recorder.dropped("viewer")
                continue
            viewer = Viewer(http, recorder, opts, pick())
            task = asyncio.create_task(viewer.run(base_url))
            active.add(task)
            task.add_done_callback(active.discard)
        remaining = opts.deadline - recorder.now()
        if active and remaining > 0:
            await asyncio.wait(active, timeout=remaining)
    finally:
        for task in active:
            task.cancel()
        await asyncio.gather(*active, return_exceptions=True)
