"""One transcode attempt in-process, on SQLite and the local blob store, with real ffmpeg."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from sqlalchemy import select, update

from reelstream.db.models import Job, Video
from reelstream.media.packaging import parse_attributes, parse_media_playlist
from reelstream.media.probe import probe_file
from reelstream.processing.options import probe_limits
from reelstream.queue.jobs import Lease, Stages
from reelstream.queue.kinds import TRANSCODE
from reelstream.services import Services
from reelstream.storage.keys import rev_prefix
from reelstream.videos import repository as videos
from tests.media.media_checks import check_mpd, check_storyboard
from tests.processing.conftest import ffmpeg_children, queue_video, transcode_next
from tests.support import media_duration


async def load(services: Services, video_id: str) -> tuple[Video, Job]:
    async with services.db.read() as s:
        video = await videos.get_video(s, video_id)
        job = (
            await s.execute(select(Job).where(Job.video_id == video_id, Job.kind == TRANSCODE))
        ).scalar_one()
    return video, job


async def revs(services: Services, video_id: str) -> set[str]:
    return {b.key.split("/")[3] for b in await services.store.list(f"videos/{video_id}/r")}


async def check_published(services: Services, video_id: str, source: Path) -> Video:
    """Ready, one rev, every referenced file present, playable by ffmpeg from local files."""
    video, job = await load(services, video_id)
    assert video.status == "ready", video.error
    assert video.error is None and job.state == "succeeded" and job.attempts == 1
    rev = video.published_rev
    assert rev is not None and await revs(services, video_id) == {rev}
    prefix = rev_prefix(video_id, rev)
    stored = {b.key[len(prefix) + 1 :]: b.size for b in await services.store.list(prefix)}
    assert stored.get("poster.jpg", 0) > 0
    assert video.renditions and all(r.ready for r in video.renditions)
    assert video.output_bytes == sum(stored.values())

    master = (await services.store.get_bytes(f"{prefix}/master.m3u8")).decode()
    lines = master.splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    variants = [
        (parse_attributes(line.split(":", 1)[1]), lines[i + 1])
        for i, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:")
    ]
    assert [uri for _, uri in variants] == [r.playlist for r in video.renditions]
    bandwidths = [int(a["BANDWIDTH"]) for a, _ in variants]
    assert bandwidths == sorted(bandwidths)
    referenced = {"master.m3u8", "poster.jpg"}
    playlists = [uri for _, uri in variants]
    audio = [parse_attributes(x.split(":", 1)[1]) for x in lines if x.startswith("#EXT-X-MEDIA:")]
    playlists += [a["URI"] for a in audio]
    seg_lists = {}
    for uri in playlists:
        folder = uri.rsplit("/", 1)[0]
        media = parse_media_playlist((await services.store.get_bytes(f"{prefix}/{uri}")).decode())
        assert media.ended and media.init_uri and media.segments
        files = [f"{folder}/{media.init_uri}"] + [f"{folder}/{s.uri}" for s in media.segments]
        for f in files:
            assert stored.get(f, 0) > 0, f"{f} is referenced but missing"
        referenced |= {uri, *files}
        seg_lists[folder] = [round(s.duration_s, 2) for s in media.segments]
    # the DASH manifest names the very same files (no second encode, no copies)
    mpd = (await services.store.get_bytes(f"{prefix}/manifest.mpd")).decode()
    reps = check_mpd(mpd, set(stored), video.duration_s or 0)
    dash_files = {f for rep in reps for f in rep.files}
    assert dash_files <= referenced, dash_files - referenced
    assert sorted(r.id for r in reps if r.content == "video") == sorted(
        r.name for r in video.renditions
    )
    assert [r.id for r in reps if r.content == "audio"] == (["audio"] if audio else [])
    # the storyboard: every cue inside its sheet, the whole duration covered
    vtt = (await services.store.get_bytes(f"{prefix}/storyboard/storyboard.vtt")).decode()
    sheets = {
        name.removeprefix("storyboard/"): await services.store.get_bytes(f"{prefix}/{name}")
        for name in stored
        if name.startswith("storyboard/sb_")
    }
    tiles = check_storyboard(vtt, sheets, video.duration_s or 0)
    referenced |= {"manifest.mpd", "storyboard/storyboard.vtt"}
    referenced |= {f"storyboard/{t.sheet}" for t in tiles}
    assert set(stored) == referenced  # nothing unreferenced was published either
    assert video.media is not None
    assert video.media["dash"] == "manifest.mpd"
    assert video.media["storyboard"] == "storyboard/storyboard.vtt"
    # every video rung cuts its segments at the same instants (aligned, fixed GOPs)
    video_segs = [seg_lists[r.name] for r in video.renditions]
    assert all(segs == video_segs[0] for segs in video_segs)

    for (attrs, _), rendition in zip(variants, video.renditions, strict=True):
        assert int(attrs["AVERAGE-BANDWIDTH"]) <= int(attrs["BANDWIDTH"])
        assert rendition.bandwidth == int(attrs["BANDWIDTH"])
        assert attrs["RESOLUTION"] == f"{rendition.width}x{rendition.height}"
        assert attrs["CODECS"].startswith("avc1.64")
        assert ("mp4a.40.2" in attrs["CODECS"]) == bool(audio)
        assert 0.5 * rendition.bandwidth > 0

    root = services.store.local_path(prefix)
    assert root is not None
    expected = media_duration(str(source))
    assert abs(media_duration(str(root / "master.m3u8")) - expected) <= 0.5
    return video


async def encoded_size(services: Services, video: Video, name: str) -> tuple[int, int]:
    """Width and height of a rendition as encoded, read back from its first segment."""
    assert video.published_rev
    prefix = rev_prefix(video.id, video.published_rev)
    media = parse_media_playlist(
        (await services.store.get_bytes(f"{prefix}/{name}/index.m3u8")).decode()
    )
    init = await services.store.get_bytes(f"{prefix}/{name}/{media.init_uri}")
    first = await services.store.get_bytes(f"{prefix}/{name}/{media.segments[0].uri}")
    with tempfile.TemporaryDirectory() as d:
        joined = Path(d) / "x.mp4"
        joined.write_bytes(init + first)
        info = probe_file(joined, probe_limits(services.settings))
    return info.width, info.height


async def test_clip_with_audio(services: Services, clip4: Path) -> None:
    vid = await queue_video(services, clip4)
    assert await transcode_next(services) == "published"
    video = await check_published(services, vid, clip4)
    assert [(r.name, r.width, r.height) for r in video.renditions] == [
        ("v240", 426, 240),
        ("v360", 640, 360),
    ]
    assert video.has_audio and video.duration_s == pytest.approx(4.0, abs=0.1)
    assert video.probe and video.probe["video_codec"] == "h264"
    assert await encoded_size(services, video, "v240") == (426, 240)
    prefix = rev_prefix(vid, video.published_rev or "")
    assert await services.store.stat(f"{prefix}/audio/index.m3u8")
    assert not list(services.settings.work_dir.iterdir())  # the temp dir is gone
    m = services.metrics
    assert m.transcode_attempts.labels("published")._value.get() == 1
    assert m.transcode_seconds._sum.get() > 0
    # the SLO histograms: upload complete -> first playable, first ready; once each
    for name in ("playable", "ready"):
        count = m.registry.get_sample_value(f"reelstream_video_time_to_{name}_seconds_count")
        total = m.registry.get_sample_value(f"reelstream_video_time_to_{name}_seconds_sum")
        assert count == 1 and total is not None and 0 < total < 600, name
    assert m.registry.get_sample_value(
        "reelstream_jobs_finished_total", {"kind": "transcode", "outcome": "succeeded"}
    )


async def test_audio_less(services: Services, silent_clip: Path) -> None:
    vid = await queue_video(services, silent_clip)
    assert await transcode_next(services) == "published"
    video = await check_published(services, vid, silent_clip)
    assert video.has_audio is False
    prefix = rev_prefix(vid, video.published_rev or "")
    assert not await services.store.list(f"{prefix}/audio")


async def test_portrait(services: Services, portrait_clip: Path) -> None:
    vid = await queue_video(services, portrait_clip)
    assert await transcode_next(services) == "published"
    video = await check_published(services, vid, portrait_clip)
    assert [(r.width, r.height) for r in video.renditions] == [(240, 426), (360, 640)]
    assert await encoded_size(services, video, "v360") == (360, 640)


async def test_rotated_phone_video(services: Services, rotated_clip: Path) -> None:
    vid = await queue_video(services, rotated_clip)
    assert await transcode_next(services) == "published"
    video = await check_published(services, vid, rotated_clip)
    assert (video.width, video.height) == (360, 640)
    assert [(r.width, r.height) for r in video.renditions] == [(240, 426), (360, 640)]
    # the pixels themselves are upright: the output carries no rotation to apply
    assert await encoded_size(services, video, "v360") == (360, 640)


async def test_odd_size(services: Services, odd_clip: Path) -> None:
    vid = await queue_video(services, odd_clip)
    assert await transcode_next(services) == "published"
    video = await check_published(services, vid, odd_clip)
    assert [(r.width, r.height) for r in video.renditions] == [(428, 240)]
    assert await encoded_size(services, video, "v240") == (428, 240)


async def test_vfr_source(services: Services, vfr_clip: Path) -> None:
    vid = await queue_video(services, vfr_clip)
    assert await transcode_next(services) == "published"
    video = await check_published(services, vid, vfr_clip)
    assert video.probe and video.probe["vfr"] is True


async def test_invalid_source_fails_at_once(services: Services, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.mp4"
    bogus.write_text("#EXTM3U\n#EXTINF:1,\nhttp://127.0.0.1:9/x.ts\n")
    vid = await queue_video(services, bogus)
    assert await transcode_next(services) == "failed"
    video, job = await load(services, vid)
    assert video.status == "failed"
    assert (
        video.error == "playlists and concat lists are not accepted; upload the video file itself"
    )
    assert job.state == "failed" and job.attempts == 1  # permanent: no retry
    assert not await revs(services, vid)


async def test_lost_lease_publishes_nothing(
    services: Services, clip4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker takes the job over mid-transcode: this attempt must stop and clean up."""
    vid = await queue_video(services, clip4)
    real_heartbeat = services.queue.heartbeat

    async def taken_over(
        lease: Lease, progress: float | None = None, stages: Stages | None = None
    ) -> bool:
        async with services.db.transaction() as s:  # as if the reaper re-queued and re-claimed
            await s.execute(update(Job).where(Job.id == lease.job_id).values(attempts=9))
        return await real_heartbeat(lease, progress, stages)

    monkeypatch.setattr(services.queue, "heartbeat", taken_over)
    services.settings.heartbeat_s = 0.05
    assert await transcode_next(services) == "lease_lost"
    assert not ffmpeg_children()  # the encoder was killed, not left running
    video, _ = await load(services, vid)
    assert video.status == "processing" and video.published_rev is None
    assert not await revs(services, vid)
    assert not list(services.settings.work_dir.iterdir())


async def test_deleted_video_mid_transcode(
    services: Services, clip4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vid = await queue_video(services, clip4)
    real_heartbeat = services.queue.heartbeat

    async def deleted(
        lease: Lease, progress: float | None = None, stages: Stages | None = None
    ) -> bool:
        async with services.db.transaction() as s:
            await videos.delete_video(s, lease.video_id)
        return await real_heartbeat(lease, progress, stages)

    monkeypatch.setattr(services.queue, "heartbeat", deleted)
    services.settings.heartbeat_s = 0.05
    assert await transcode_next(services) in {"lease_lost", "deleted"}
    assert not await revs(services, vid)
