"""A rendition that fails on its own costs only itself, and can be retried without a new
upload; a failed video can be retried as a whole. Real ffmpeg, behind a wrapper that fails
the commands we choose (``tests.support.FaultyFFmpeg``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update

from reelstream.db.base import utcnow
from reelstream.db.models import Job, Upload, Video
from reelstream.media.packaging import parse_media_playlist
from reelstream.processing.cleanup import grace_s
from reelstream.processing.errors import NothingToRetry, RenditionNotFound
from reelstream.processing.jobs import claim_next, run_job
from reelstream.processing.retry import retry_renditions, retry_video
from reelstream.processing.timeline import Composed, Stage, compose
from reelstream.services import Services
from reelstream.storage.keys import rev_prefix
from reelstream.videos import repository as videos
from tests.media.media_checks import check_mpd, check_storyboard
from tests.processing.conftest import queue_video
from tests.support import FAULTY_REASON, FaultyFFmpeg, media_duration


@pytest.fixture
def faulty(services: Services, tmp_path: Path) -> FaultyFFmpeg:
    wrapper = FaultyFFmpeg(tmp_path / "faulty")
    services.settings.ffmpeg_path = str(wrapper.path)
    return wrapper


async def run_next(services: Services) -> str:
    lease = await claim_next(services, "test:1:0")
    assert lease is not None, "no job was due"
    return await run_job(services, lease)


async def state(services: Services, vid: str) -> tuple[Video, Composed]:
    async with services.db.read(primary=True) as s:
        video = await videos.get_video(s, vid)
        jobs = await services.queue.jobs_of(s, vid)
        upload = (await s.execute(select(Upload).where(Upload.video_id == vid))).scalar()
        return video, compose(video, jobs, upload)


def stage(composed: Composed, name: str, rendition: str | None = None) -> Stage:
    found = [s for s in composed.stages if (s.name, s.rendition) == (name, rendition)]
    assert len(found) == 1, [(s.name, s.rendition) for s in composed.stages]
    return found[0]


async def revs(services: Services, vid: str) -> set[str]:
    return {b.key.split("/")[3] for b in await services.store.list(f"videos/{vid}/r")}


async def published_files(services: Services, video: Video) -> dict[str, int]:
    assert video.published_rev
    prefix = rev_prefix(video.id, video.published_rev)
    return {b.key[len(prefix) + 1 :]: b.size for b in await services.store.list(prefix)}


async def master_variants(services: Services, video: Video) -> list[str]:
    assert video.published_rev
    prefix = rev_prefix(video.id, video.published_rev)
    lines = (await services.store.get_bytes(f"{prefix}/master.m3u8")).decode().splitlines()
    return [lines[i + 1] for i, x in enumerate(lines) if x.startswith("#EXT-X-STREAM-INF:")]


async def segment_durations(services: Services, video: Video, name: str) -> list[float]:
    assert video.published_rev
    key = f"{rev_prefix(video.id, video.published_rev)}/{name}/index.m3u8"
    media = parse_media_playlist((await services.store.get_bytes(key)).decode())
    return [round(s.duration_s, 3) for s in media.segments]


async def test_a_failing_rendition_costs_only_itself_and_is_retried_alone(
    services: Services, clip4: Path, faulty: FaultyFFmpeg
) -> None:
    faulty.fail_on("name:v360")
    vid = await queue_video(services, clip4)
    assert await run_next(services) == "published"

    video, timeline = await state(services, vid)
    assert video.status == "ready" and video.error is None
    assert [r.name for r in video.renditions] == ["v240"]
    failed = stage(timeline, "encode", "v360")
    assert failed.state == "failed"
    assert failed.error and FAULTY_REASON in failed.error
    assert failed.error.startswith("the 360p rendition failed to encode")
    for name in ("v240", "audio"):
        assert stage(timeline, "encode", name).state == "done"
    assert stage(timeline, "probe").state == "done"
    assert "640x360" in (stage(timeline, "probe").detail or "")
    assert stage(timeline, "publish").state == "done"
    assert timeline.retry_renditions == ["v360"] and not timeline.can_retry_video
    # what was published plays: v240 with audio, nothing of v360
    assert await master_variants(services, video) == ["v240/index.m3u8"]
    files = await published_files(services, video)
    assert not any(f.startswith("v360/") for f in files)
    # the storyboard came from a decode of its own, and covers the whole video
    vtt = await services.store.get_bytes(
        f"{rev_prefix(vid, video.published_rev or '')}/storyboard/storyboard.vtt"
    )
    sheets = {
        name.removeprefix("storyboard/"): await services.store.get_bytes(
            f"{rev_prefix(vid, video.published_rev or '')}/{name}"
        )
        for name in files
        if name.startswith("storyboard/sb_")
    }
    check_storyboard(vtt.decode(), sheets, video.duration_s or 0)
    assert not any(name.startswith("storyboard/th_") for name in files)
    first_rev, first_ready_at = video.published_rev, video.ready_at
    assert first_rev is not None
    root = services.store.local_path(rev_prefix(vid, first_rev))
    assert root is not None
    assert abs(media_duration(str(root / "master.m3u8")) - media_duration(str(clip4))) <= 0.5

    # nothing else can be retried, a rendition the video never had is a 404
    with pytest.raises(RenditionNotFound):
        async with services.db.transaction() as s:
            await retry_renditions(s, services.queue, vid, ["v1080"])
    with pytest.raises(NothingToRetry):
        async with services.db.transaction() as s:
            await retry_renditions(s, services.queue, vid, ["v240"])
    with pytest.raises(NothingToRetry):
        async with services.db.transaction() as s:
            await retry_video(s, services.queue, vid)

    faulty.heal()
    async with services.db.transaction() as s:
        job = await retry_renditions(s, services.queue, vid, ["v360"])
        assert job.kind == "rendition" and job.payload == {"renditions": ["v360"]}
    video, timeline = await state(services, vid)
    queued = stage(timeline, "encode", "v360")
    assert queued.state == "pending" and "retry queued" in (queued.detail or "")
    assert timeline.retry_renditions == []  # busy: one retry at a time
    with pytest.raises(NothingToRetry):
        async with services.db.transaction() as s:
            await retry_renditions(s, services.queue, vid, ["v360"])
    assert video.status == "ready" and video.published_rev == first_rev  # still playing

    assert await run_next(services) == "published"
    video, timeline = await state(services, vid)
    assert video.status == "ready" and video.ready_at == first_ready_at
    assert [r.name for r in video.renditions] == ["v240", "v360"]
    assert video.published_rev not in (None, first_rev)
    assert stage(timeline, "encode", "v360").state == "done"
    assert timeline.retry_renditions == [] and timeline.progress == 1.0
    assert await master_variants(services, video) == ["v240/index.m3u8", "v360/index.m3u8"]
    # the new rendition lines up with the copied one, and everything referenced exists
    assert await segment_durations(services, video, "v360") == await segment_durations(
        services, video, "v240"
    )
    files = await published_files(services, video)
    reps = check_mpd(
        (
            await services.store.get_bytes(
                f"{rev_prefix(vid, video.published_rev or '')}/manifest.mpd"
            )
        ).decode(),
        set(files),
        video.duration_s or 0,
    )
    assert sorted(r.id for r in reps if r.content == "video") == ["v240", "v360"]
    assert video.output_bytes == sum(files.values())
    root = services.store.local_path(rev_prefix(vid, video.published_rev or ""))
    assert root is not None
    master = root / "master.m3u8"
    assert abs(media_duration(str(master)) - media_duration(str(clip4))) <= 0.5
    assert abs(media_duration(str(root / "v360" / "index.m3u8")) - 4.0) <= 0.5
    # the copied v240 is byte for byte the one the first rev had
    old = services.store.local_path(rev_prefix(vid, first_rev))
    assert old is not None
    for name in ("v240/index.m3u8", "v240/seg_00001.m4s"):
        assert (root / name).read_bytes() == (old / name).read_bytes()

    # the old rev stays for viewers mid-playback, until a cleanup job due after the grace
    assert await revs(services, vid) == {first_rev, video.published_rev}
    async with services.db.transaction() as s:
        cleanup = (
            await s.execute(select(Job).where(Job.video_id == vid, Job.kind == "cleanup"))
        ).scalar_one()
        assert cleanup.payload == {"rev": first_rev} and cleanup.state == "queued"
        due_in = (cleanup.run_at - utcnow()).total_seconds()
        assert grace_s(services.settings) - 60 < due_in <= grace_s(services.settings)
        await s.execute(update(Job).where(Job.id == cleanup.id).values(run_at=utcnow()))
    assert await run_next(services) == "removed"
    assert await revs(services, vid) == {video.published_rev}


async def test_a_rendition_retry_that_fails_keeps_the_video_playing(
    services: Services, clip4: Path, faulty: FaultyFFmpeg
) -> None:
    services.queue.policy = services.queue.policy.__class__(max_attempts=1, base_s=0.1)
    faulty.fail_on("name:v360")
    vid = await queue_video(services, clip4)
    assert await run_next(services) == "published"
    video, _ = await state(services, vid)
    rev = video.published_rev
    async with services.db.transaction() as s:
        await retry_renditions(s, services.queue, vid, ["v360"])
    assert await run_next(services) == "failed"  # still broken
    video, timeline = await state(services, vid)
    assert video.status == "ready" and video.published_rev == rev and video.error is None
    assert [r.name for r in video.renditions] == ["v240"]
    failed = stage(timeline, "encode", "v360")
    assert failed.state == "failed" and FAULTY_REASON in (failed.error or "")
    assert timeline.retry_renditions == ["v360"]  # and it may be tried again
    assert await revs(services, vid) == {rev}  # the failed attempt left nothing


async def test_without_its_audio_a_video_fails_as_a_whole(
    services: Services, clip4: Path, faulty: FaultyFFmpeg
) -> None:
    services.queue.policy = services.queue.policy.__class__(max_attempts=1, base_s=0.1)
    faulty.fail_on("name:audio")
    vid = await queue_video(services, clip4)
    assert await run_next(services) == "failed"
    video, timeline = await state(services, vid)
    assert video.status == "failed" and video.published_rev is None
    assert video.error and FAULTY_REASON in video.error
    audio = stage(timeline, "encode", "audio")
    assert audio.state == "failed" and "audio" in (audio.error or "")
    assert stage(timeline, "publish").state == "skipped"
    assert timeline.can_retry_video and timeline.retry_renditions == []
    assert await revs(services, vid) == set()


async def test_a_failed_video_is_retried_from_its_stored_source(
    services: Services, clip4: Path, faulty: FaultyFFmpeg
) -> None:
    services.queue.policy = services.queue.policy.__class__(max_attempts=1, base_s=0.1)
    faulty.fail_on("-var_stream_map")  # every encode fails
    vid = await queue_video(services, clip4)
    assert await run_next(services) == "failed"
    video, timeline = await state(services, vid)
    assert video.status == "failed"
    # the ladder failed, then the audio on its own: the renditions were not tried after that
    assert stage(timeline, "encode", "audio").state == "failed"
    assert {stage(timeline, "encode", n).state for n in ("v240", "v360")} == {"skipped"}
    assert timeline.can_retry_video

    faulty.heal()
    async with services.db.transaction() as s:
        job = await retry_video(s, services.queue, vid)
        assert job.kind == "transcode" and job.attempts == 0
    video, timeline = await state(services, vid)
    assert video.status == "queued" and video.error is None
    assert not timeline.can_retry_video
    assert [s.state for s in timeline.stages if s.name != "upload"] == ["pending"] * 4
    with pytest.raises(NothingToRetry):
        async with services.db.transaction() as s:
            await retry_video(s, services.queue, vid)

    assert await run_next(services) == "published"
    video, timeline = await state(services, vid)
    assert video.status == "ready"
    assert [r.name for r in video.renditions] == ["v240", "v360"]
    assert all(s.state == "done" for s in timeline.stages), timeline.stages
    files = await published_files(services, video)
    assert "storyboard/storyboard.vtt" in files  # the full path ran: storyboard included


async def test_the_timeline_is_written_while_the_encode_runs(
    services: Services, long_clip: Path
) -> None:
    """Heartbeats carry the stages: while ffmpeg runs, the job row shows every rendition
    encoding with a growing progress, and an ETA."""
    services.settings.heartbeat_s = 0.2
    vid = await queue_video(services, long_clip)
    lease = await claim_next(services, "test:1:0")
    assert lease is not None
    import asyncio

    attempt = asyncio.create_task(run_job(services, lease))
    seen: list[tuple[float, float | None]] = []
    try:
        while not attempt.done():
            await asyncio.sleep(0.2)
            video, timeline = await state(services, vid)
            encodes = [s for s in timeline.stages if s.name == "encode" and s.rendition]
            if encodes and all(s.state == "running" for s in encodes):
                seen.append((min(s.progress for s in encodes), timeline.eta_s))
    finally:
        assert await attempt == "published"
    progresses = [p for p, _ in seen]
    assert len(progresses) >= 3, seen
    assert progresses == sorted(progresses) and progresses[-1] > progresses[0]
    assert any(eta is not None and eta > 0 for _, eta in seen)
    video, timeline = await state(services, vid)
    assert video.status == "ready" and all(s.state == "done" for s in timeline.stages)
    upload_stage = stage(timeline, "upload")
    assert upload_stage.state == "done"
    assert dt.datetime.fromisoformat(stage(timeline, "publish").finished_at or "") <= utcnow()
