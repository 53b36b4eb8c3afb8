"""A long video's ladder in chunks any worker can take (``processing.chunked``, ``chunk_job``):
the transcode encodes the lead and waits, the chunks encode the other rungs, the last one
wakes the transcode, which stitches and publishes once; a chunk whose worker dies mid-encode
is encoded again alone. Real ffmpeg on a generated clip, small chunks."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update

from reelstream.config import Settings
from reelstream.db.base import utcnow
from reelstream.db.models import Job, Upload
from reelstream.media.packaging import parse_media_playlist
from reelstream.processing.jobs import HANDLERS, claim_next, run_job
from reelstream.processing.ladder_job import TranscodeAttempt
from reelstream.processing.runner import SOURCES_DIR
from reelstream.processing.timeline import compose
from reelstream.services import Services, build_services
from reelstream.storage.keys import rev_prefix
from reelstream.videos import repository as videos
from reelstream.worker import reap_once, remove_unused_sources
from tests.processing.conftest import ffmpeg_children, queue_video
from tests.support import make_clip, media_duration

pytestmark = pytest.mark.timeout(240)

SECONDS = 16


@pytest.fixture(scope="session")
def clip16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("chunked")
    return make_clip(folder / "clip16.mp4", seconds=SECONDS, width=640, height=360)


@pytest.fixture
def chunking(services: Services) -> Services:
    """Chunks of 6 s (2 s segments, 1 s GOPs) for anything of 10 s or more."""
    s = services.settings
    s.segment_s, s.gop_s, s.chunk_s, s.chunk_min_s = 2, 1, 6, 10
    return services


@pytest.fixture
def apart(chunking: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    """As if the transcode's worker took no chunk while its lead ran (other workers did)."""

    async def no_help(self: TranscodeAttempt, lead: object) -> None:
        return None

    monkeypatch.setattr(TranscodeAttempt, "_help_with_chunks", no_help)
    return chunking


async def run_next(services: Services) -> tuple[str, str]:
    lease = await claim_next(services, "test:1:0")
    assert lease is not None, "no job was due"
    return lease.kind, await run_job(services, lease)


async def jobs_of(services: Services, vid: str) -> list[Job]:
    async with services.db.read(primary=True) as s:
        return list(await services.queue.jobs_of(s, vid))


async def check_published(services: Services, vid: str) -> None:
    """Ready from one rev; every rung's playlist names only stored segments, starts with one
    init, and ffmpeg decodes each rung over the whole duration."""
    async with services.db.read(primary=True) as s:
        video = await videos.get_video(s, vid)
    assert video.status == "ready", video.error
    assert [r.name for r in video.renditions] == ["v240", "v360"]
    assert all(r.ready for r in video.renditions) and not (video.media or {}).get("growing")
    prefix = rev_prefix(vid, video.published_rev or "")
    stored = {b.key[len(prefix) + 1 :] for b in await services.store.list(prefix)}
    for name in ("v240", "v360", "audio"):
        playlist = parse_media_playlist(
            (await services.store.get_bytes(f"{prefix}/{name}/index.m3u8")).decode()
        )
        assert playlist.ended and playlist.init_uri
        assert f"{name}/{playlist.init_uri}" in stored
        assert {f"{name}/{seg.uri}" for seg in playlist.segments} <= stored
        assert sum(seg.duration_s for seg in playlist.segments) == pytest.approx(SECONDS, abs=0.1)
    local = services.store.local_path(f"{prefix}/master.m3u8")
    assert local is not None
    assert media_duration(str(local)) == pytest.approx(SECONDS, abs=0.5)
    for name in ("v240", "v360"):
        path = services.store.local_path(f"{prefix}/{name}/index.m3u8")
        assert path is not None
        assert media_duration(str(path)) == pytest.approx(SECONDS, abs=0.5)


async def test_a_long_video_is_encoded_in_chunks_and_published_once(
    apart: Services, clip16: Path
) -> None:
    services = apart
    vid = await queue_video(services, clip16)
    assert await run_next(services) == ("transcode", "waiting_for_chunks")
    async with services.db.read(primary=True) as s:
        video = await videos.get_video(s, vid)
    # the lead was published while it grew: playable, still processing
    assert video.status == "processing" and video.published_rev is not None
    # time to playable observed once, when the lead was published; not ready yet
    sample = services.metrics.registry.get_sample_value
    assert sample("reelstream_video_time_to_playable_seconds_count") == 1
    assert sample("reelstream_video_time_to_ready_seconds_count") is None
    chunks = [j for j in await jobs_of(services, vid) if j.kind == "chunk"]
    assert len(chunks) == 3 and all(j.state == "queued" for j in chunks)
    assert {tuple(j.payload["rungs"]) for j in chunks if j.payload} == {("v360",)}
    assert {j.payload["rev"] for j in chunks if j.payload} == {video.published_rev}
    for _ in chunks:
        assert await run_next(services) == ("chunk", "chunk_done")
    # the last chunk woke the transcode, which assembles and publishes
    assert await run_next(services) == ("transcode", "published")
    await check_published(services, vid)
    assert sample("reelstream_video_time_to_playable_seconds_count") == 1  # not again
    assert sample("reelstream_video_time_to_ready_seconds_count") == 1
    finished = "reelstream_jobs_finished_total"
    assert sample(finished, {"kind": "chunk", "outcome": "succeeded"}) == 3
    assert sample(finished, {"kind": "transcode", "outcome": "succeeded"}) == 1
    async with services.db.read(primary=True) as s:
        video = await videos.get_video(s, vid)
        jobs = await services.queue.jobs_of(s, vid)
        upload = (await s.execute(select(Upload).where(Upload.video_id == vid))).scalar()
        timeline = compose(video, jobs, upload)
    transcode = next(j for j in jobs if j.kind == "transcode")
    assert transcode.state == "succeeded"
    chunk_stages = [st for st in timeline.stages if st.name == "chunk"]
    assert [st.rendition for st in chunk_stages] == ["1", "2", "3"]
    assert all(st.state == "done" for st in chunk_stages)
    assert all(st.state == "done" for st in timeline.stages), timeline.stages


async def test_a_chunk_killed_mid_encode_is_retried_alone(apart: Services, clip16: Path) -> None:
    services = apart
    vid = await queue_video(services, clip16)
    assert await run_next(services) == ("transcode", "waiting_for_chunks")
    # a worker takes the first chunk and dies while its ffmpeg runs
    lease = await claim_next(services, "doomed:1:0")
    assert lease is not None and lease.kind == "chunk"
    attempt = HANDLERS["chunk"](services, lease)

    async def dies(reason: str) -> None:  # a SIGKILLed worker hands nothing back
        return None

    attempt.give_back = dies  # type: ignore[method-assign]
    task = asyncio.create_task(attempt.run())
    for _ in range(400):
        if ffmpeg_children():
            break
        await asyncio.sleep(0.025)
    assert ffmpeg_children(), "the chunk's ffmpeg never started"
    task.cancel()  # its ffmpeg is killed; nothing is recorded: the lease runs out
    with pytest.raises(asyncio.CancelledError):
        await task
    killed = lease.job_id
    # the other chunks go on meanwhile
    assert await run_next(services) == ("chunk", "chunk_done")
    assert await run_next(services) == ("chunk", "chunk_done")
    async with services.db.transaction() as s:  # the dead worker's lease expires
        await s.execute(
            update(Job)
            .where(Job.id == killed)
            .values(lease_expires_at=utcnow() - dt.timedelta(seconds=1))
        )
    assert await reap_once(services) == 1
    assert await run_next(services) == ("chunk", "chunk_done")  # the killed one, again
    assert await run_next(services) == ("transcode", "published")
    await check_published(services, vid)
    by_id = {j.id: j for j in await jobs_of(services, vid)}
    chunks = [j for j in by_id.values() if j.kind == "chunk"]
    assert all(j.state == "succeeded" for j in chunks)
    # only the killed chunk ran twice; the lead was encoded once (the assembling attempt
    # encodes nothing)
    assert {j.id: j.attempts for j in chunks} == {j.id: 2 if j.id == killed else 1 for j in chunks}
    transcode = next(j for j in by_id.values() if j.kind == "transcode")
    lead = [
        st for st in transcode.stages or [] if st["name"] == "encode" and st["rendition"] == "v240"
    ]
    assert len(lead) == 1 and lead[0]["state"] == "done"


async def test_chunks_share_one_copy_of_a_remote_source(
    prepared: Settings, clip16: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a store that has no local files, the chunk jobs of a video on one machine fetch
    its source once (``work_dir/sources``); the janitor removes the copy when no job needs
    it any more."""

    async def no_help(self: TranscodeAttempt, lead: object) -> None:
        return None

    monkeypatch.setattr(TranscodeAttempt, "_help_with_chunks", no_help)
    prepared.storage_backend = "memory"
    prepared.segment_s, prepared.gop_s, prepared.chunk_s, prepared.chunk_min_s = 2, 1, 6, 10
    services = build_services(prepared)
    fetches = 0
    fetch_to = services.store.fetch_to

    async def counting(key: str, path: Path) -> None:
        nonlocal fetches
        fetches += 1
        await fetch_to(key, path)

    services.store.fetch_to = counting  # type: ignore[method-assign]
    try:
        vid = await queue_video(services, clip16)
        assert await run_next(services) == ("transcode", "waiting_for_chunks")
        assert fetches == 1  # the transcode's own copy, in its work dir
        copy = prepared.work_dir / SOURCES_DIR / vid
        for _ in range(3):
            assert await run_next(services) == ("chunk", "chunk_done")
            assert copy.is_file()
        assert fetches == 2  # one more for all three chunks
        assert await remove_unused_sources(services) == 0  # the transcode still waits
        assert await run_next(services) == ("transcode", "published")
        assert await remove_unused_sources(services) == 1
        assert not copy.exists()
    finally:
        await services.close()


async def test_one_worker_encodes_chunks_beside_its_lead(chunking: Services, clip16: Path) -> None:
    """Alone, the transcode's worker takes chunks while its lead runs (every core busy, as an
    unchunked transcode keeps them); whatever is left runs after; published once."""
    services = chunking
    vid = await queue_video(services, clip16)
    outcomes = [await run_next(services)]
    for _ in range(6):
        if outcomes[-1] == ("transcode", "published"):
            break
        outcomes.append(await run_next(services))
    assert outcomes[-1] == ("transcode", "published"), outcomes
    await check_published(services, vid)
    jobs = await jobs_of(services, vid)
    chunks = [j for j in jobs if j.kind == "chunk"]
    assert len(chunks) == 3 and all(j.state == "succeeded" and j.attempts == 1 for j in chunks)
    taken_after = sum(1 for kind, _ in outcomes if kind == "chunk")
    assert taken_after < 3, outcomes  # some chunks were encoded beside the lead
    assert [j.state for j in jobs if j.kind == "transcode"] == ["succeeded"]
