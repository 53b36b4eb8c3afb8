"""Captions and posters on real transcodes, in-process: publishing captions rewrites the
manifests, concurrent uploads all land, a re-transcode carries captions over, the poster job
regenerates the poster under a new name and never touches the video's status."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from reelstream.db.models import Job, Video
from reelstream.media.packaging import parse_attributes, parse_media_playlist
from reelstream.processing.jobs import claim_next, run_job
from reelstream.services import Services
from reelstream.storage.keys import rev_prefix
from reelstream.videos import repository as videos
from reelstream.videos.errors import CaptionNotFound, VideoNotReady
from reelstream.videos.publishing import add_caption, remove_caption
from tests.media.media_checks import check_mpd, jpeg_size
from tests.processing.conftest import queue_video, transcode_next
from tests.support import media_duration

VTT = "WEBVTT\n\n00:00:00.500 --> 00:00:02.000\n{text}\n"


async def ready_video(services: Services, clip: Path) -> Video:
    vid = await queue_video(services, clip)
    assert await transcode_next(services) == "published"
    return await load(services, vid)


async def load(services: Services, vid: str) -> Video:
    async with services.db.read(primary=True) as s:
        return await videos.get_video(s, vid)


async def text(services: Services, video: Video, path: str) -> str:
    assert video.published_rev
    key = f"{rev_prefix(video.id, video.published_rev)}/{path}"
    return (await services.store.get_bytes(key)).decode()


def subtitle_media(master: str) -> list[dict[str, str]]:
    return [
        parse_attributes(line.split(":", 1)[1])
        for line in master.splitlines()
        if line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")
    ]


async def test_captions_are_published_into_both_manifests(services: Services, clip4: Path) -> None:
    video = await ready_video(services, clip4)
    before = await text(services, video, "master.m3u8")
    assert "SUBTITLES" not in before

    # three uploads at once (and one replacement): the row lock makes them take turns, and
    # the manifest written last lists every caption
    uploads = [
        add_caption(services, video.id, lang=lang, label=label, data=VTT.format(text=lang).encode())
        for lang, label in (("en", "English"), ("fr", "Français"), ("de", None))
    ]
    results = await asyncio.gather(*uploads)
    assert all(created for _, created in results)
    _, created = await add_caption(
        services, video.id, lang="EN", label="English", data=VTT.format(text="Hello").encode()
    )
    assert not created  # "EN" is "en": replaced

    video = await load(services, video.id)
    master = await text(services, video, "master.m3u8")
    subs = subtitle_media(master)
    assert sorted((s["LANGUAGE"], s["NAME"]) for s in subs) == [
        ("de", "de"),
        ("en", "English"),
        ("fr", "Français"),
    ]
    stream_infs = [line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF")]
    assert stream_infs and all('SUBTITLES="subs"' in line for line in stream_infs)
    en = next(s for s in subs if s["LANGUAGE"] == "en")
    playlist = parse_media_playlist(await text(services, video, en["URI"]))
    assert playlist.ended and len(playlist.segments) == 1
    assert playlist.segments[0].duration_s == pytest.approx(video.duration_s or 0, abs=0.1)
    vtt_path = en["URI"].rsplit("/", 1)[0] + "/" + playlist.segments[0].uri
    assert "Hello" in await text(services, video, vtt_path)

    prefix = rev_prefix(video.id, video.published_rev or "")
    stored = {b.key[len(prefix) + 1 :] for b in await services.store.list(prefix)}
    mpd = await text(services, video, "manifest.mpd")
    reps = check_mpd(mpd, stored, video.duration_s or 0)
    assert sorted(r.id for r in reps if r.content == "text") == ["text-de", "text-en", "text-fr"]
    assert video.media is not None
    assert [c["lang"] for c in video.media["captions"]] == ["de", "en", "fr"]
    root = services.store.local_path(prefix)
    assert root is not None  # the master with subtitles still plays
    assert abs(media_duration(str(root / "master.m3u8")) - 4.0) <= 0.5

    await remove_caption(services, video.id, "fr")
    video = await load(services, video.id)
    master = await text(services, video, "master.m3u8")
    assert sorted(s["LANGUAGE"] for s in subtitle_media(master)) == ["de", "en"]
    assert 'lang="fr"' not in await text(services, video, "manifest.mpd")
    with pytest.raises(CaptionNotFound):
        await remove_caption(services, video.id, "fr")

    # a re-transcode (new rev) carries the captions over
    async with services.db.transaction() as s:
        row = await videos.get_video(s, video.id)
        row.status = "queued"
        await services.queue.enqueue(s, video.id)
    with pytest.raises(VideoNotReady):
        await add_caption(services, video.id, lang="es", label=None, data=VTT.encode())
    assert await transcode_next(services) == "published"
    again = await load(services, video.id)
    assert again.published_rev != video.published_rev
    master = await text(services, again, "master.m3u8")
    assert sorted(s["LANGUAGE"] for s in subtitle_media(master)) == ["de", "en"]
    en = next(s for s in subtitle_media(master) if s["LANGUAGE"] == "en")
    playlist = parse_media_playlist(await text(services, again, en["URI"]))
    folder = en["URI"].rsplit("/", 1)[0]
    assert "Hello" in await text(services, again, f"{folder}/{playlist.segments[0].uri}")


async def test_poster_job_regenerates_the_poster_under_a_new_name(
    services: Services, clip4: Path
) -> None:
    video = await ready_video(services, clip4)
    assert video.media is not None and video.media["poster"] == "poster.jpg"
    original = await services.store.get_bytes(
        f"{rev_prefix(video.id, video.published_rev or '')}/poster.jpg"
    )

    names = []
    for at in (3.2, 0.2):
        async with services.db.transaction() as s:
            row = await videos.get_video(s, video.id)
            row.poster_at_s = at
            await services.queue.enqueue(s, video.id, kind="poster")
        lease = await claim_next(services, "test:1:0")
        assert lease is not None and lease.kind == "poster"
        assert (await load(services, video.id)).status == "ready"  # never "processing"
        assert await run_job(services, lease) == "published"
        video = await load(services, video.id)
        assert video.status == "ready" and video.media is not None
        names.append(video.media["poster"])
    assert names[0] != names[1] and all(n.startswith("poster-") for n in names)
    prefix = rev_prefix(video.id, video.published_rev or "")
    new = await services.store.get_bytes(f"{prefix}/{names[1]}")
    assert new != original
    assert jpeg_size(new) == jpeg_size(original) == (640, 360)
    stored = {b.key.rsplit("/", 1)[1] for b in await services.store.list(prefix)}
    assert names[0] not in stored  # the previous custom poster was removed
    assert "poster.jpg" in stored  # the transcode's own poster stays
    async with services.db.read() as s:
        kinds = (await s.execute(select(Job.kind, Job.state).order_by(Job.id))).all()
    assert [tuple(k) for k in kinds] == [
        ("transcode", "succeeded"),
        ("poster", "succeeded"),
        ("poster", "succeeded"),
    ]


async def test_a_poster_made_while_another_rev_is_published_lands_in_that_rev(
    services: Services, clip4: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rendition retry (a new rev) publishing while the poster job runs must not lose the
    poster the owner chose: the picture is copied into the rev that is published by then."""
    from reelstream.ids import new_rev
    from reelstream.media.ffmpeg import run_ffmpeg
    from reelstream.processing import poster as poster_module

    video = await ready_video(services, clip4)
    first = video.published_rev or ""
    second = new_rev()
    real = run_ffmpeg

    async def publish_meanwhile(*args: object, **kwargs: object) -> None:
        # what a rendition job does while the poster's ffmpeg runs: a copy of the rev, published
        for blob in await services.store.list(rev_prefix(video.id, first)):
            rel = blob.key[len(rev_prefix(video.id, first)) + 1 :]
            await services.store.copy(blob.key, f"{rev_prefix(video.id, second)}/{rel}")
        async with services.db.transaction() as s:
            (await videos.get_video(s, video.id)).published_rev = second
        await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(poster_module, "run_ffmpeg", publish_meanwhile)
    async with services.db.transaction() as s:
        row = await videos.get_video(s, video.id)
        row.poster_at_s = 1.5
        await services.queue.enqueue(s, video.id, kind="poster")
    lease = await claim_next(services, "test:1:0")
    assert lease is not None
    assert await run_job(services, lease) == "published"
    video = await load(services, video.id)
    assert video.published_rev == second and video.media is not None
    name = video.media["poster"]
    assert name.startswith("poster-")
    picture = await services.store.get_bytes(f"{rev_prefix(video.id, second)}/{name}")
    assert jpeg_size(picture) == (640, 360)
