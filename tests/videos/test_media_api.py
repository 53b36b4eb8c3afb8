"""The media API against real transcodes (in-process): captions (upload forms, listing,
replacement, removal, every refusal), DASH and storyboard URLs, poster at a chosen time, and
the audio-only rung setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from fastapi.testclient import TestClient

from reelstream.media.captions import MAX_CAPTION_BYTES
from reelstream.media.packaging import parse_attributes
from reelstream.processing.jobs import claim_next, run_job
from reelstream.services import Services
from tests.media.media_checks import check_mpd, check_storyboard, jpeg_size, parse_mpd
from tests.processing.conftest import queue_video, transcode_next
from tests.support import make_clip
from tests.videos.factories import create_video
from tests.videos.test_videos import assert_error, run, services_of

SRT = (
    "1\r\n00:00:00,500 --> 00:00:02,000\r\nBonjour\r\n\r\n"
    "2\r\n00:00:02,500 --> 00:00:03,000\r\nà tous\r\n"
)
VTT = "WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nHello\n"


@pytest.fixture(scope="module")
def clip3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("media") / "clip3.mp4", seconds=3)


def ready(client: TestClient, clip: Path) -> str:
    services = services_of(client)
    vid = run(client, queue_video, services, clip)
    assert run(client, transcode_next, services) == "published"
    return vid


def master_of(client: TestClient, vid: str) -> tuple[str, str]:
    playback = client.get(f"/api/v1/videos/{vid}/playback").json()
    r = client.get(playback["hls_url"])
    assert r.status_code == 200
    return playback["hls_url"], r.text


def test_caption_upload_publish_list_replace_delete(client: TestClient, clip3: Path) -> None:
    vid = ready(client, clip3)
    url = f"/api/v1/videos/{vid}/captions"
    assert client.get(url).json() == {"items": []}

    r = client.post(
        url,
        params={"lang": "en", "label": "English"},
        content=VTT,
        headers={"content-type": "text/vtt"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["lang"], body["label"], body["cues"]) == ("en", "English", 1)
    vtt = client.get(body["url"])
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert "Hello" in vtt.text

    # SRT as a multipart form, the language as a form field: converted to WebVTT
    r = client.post(
        url,
        files={"file": ("fr.srt", SRT.encode(), "application/x-subrip")},
        data={"lang": "fr", "label": "Français"},
    )
    assert r.status_code == 201, r.text
    fr = client.get(r.json()["url"]).text
    assert fr.startswith("WEBVTT") and "00:00:00.500 --> 00:00:02.000\nBonjour" in fr
    assert "à tous" in fr

    # replacing a language answers 200 and publishes the new text under a new name
    r = client.post(
        url,
        params={"lang": "en"},
        content=VTT.replace("Hello", "Hi"),
        headers={"content-type": "text/vtt"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["url"] != body["url"]
    assert "Hi" in client.get(r.json()["url"]).text

    listed = client.get(url).json()["items"]
    assert [(c["lang"], c["label"]) for c in listed] == [("en", "en"), ("fr", "Français")]
    video = client.get(f"/api/v1/videos/{vid}").json()
    assert [(c["lang"], c["label"]) for c in video["captions"]] == [
        ("en", "en"),
        ("fr", "Français"),
    ]

    hls_url, master = master_of(client, vid)
    subs = [
        parse_attributes(line.split(":", 1)[1])
        for line in master.splitlines()
        if line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")
    ]
    assert [(s["LANGUAGE"], s["GROUP-ID"]) for s in subs] == [("en", "subs"), ("fr", "subs")]
    sub_playlist = client.get(urljoin(hls_url, subs[0]["URI"]))
    assert sub_playlist.status_code == 200 and "#EXT-X-ENDLIST" in sub_playlist.text

    playback = client.get(f"/api/v1/videos/{vid}/playback").json()
    assert playback["dash_url"].endswith("/manifest.mpd")
    mpd = client.get(playback["dash_url"])
    assert mpd.status_code == 200
    assert mpd.headers["content-type"] == "application/dash+xml"
    assert 'contentType="text"' in mpd.text and 'lang="fr"' in mpd.text

    assert client.delete(f"{url}/fr").status_code == 204
    assert_error(client.delete(f"{url}/fr"), 404, "caption_not_found")
    assert [c["lang"] for c in client.get(url).json()["items"]] == ["en"]
    _, master = master_of(client, vid)
    assert 'LANGUAGE="fr"' not in master and 'LANGUAGE="en"' in master

    # deleting the video removes its captions (rows and stored files) too
    services = services_of(client)
    assert client.delete(f"/api/v1/videos/{vid}").status_code == 204
    assert run(client, services.store.list, f"videos/{vid}") == []
    assert_error(client.get(url), 404)


def test_bad_caption_uploads_are_refused_with_reasons(client: TestClient, clip3: Path) -> None:
    vid = ready(client, clip3)
    url = f"/api/v1/videos/{vid}/captions"
    vtt = {"content-type": "text/vtt"}

    def post(
        content: bytes | str,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        return client.post(url, params=params or {"lang": "en"}, content=content, headers=headers)

    err = assert_error(post("WEBVTT\n\n00:00:01,000 --> 00:00:02.000\nx\n", headers=vtt), 422)
    assert err["code"] == "invalid_caption" and "line 3" in err["message"]
    err = assert_error(post(b"\xff\xfe\x00bad", headers=vtt), 422, "invalid_caption")
    assert "UTF-8" in err["message"]
    assert_error(post("no cues at all", headers=vtt), 422, "invalid_caption")
    big = ("00:00:01,000 --> 00:00:02,000\n" + "x" * 200 + "\n\n") * (MAX_CAPTION_BYTES // 200)
    assert_error(post(big, headers=vtt), 413, "caption_too_large")
    assert_error(
        post(VTT, headers={"content-type": "application/json"}), 415, "unsupported_caption_type"
    )
    err = assert_error(client.post(url, content=VTT, headers=vtt), 422, "invalid_caption")
    assert "lang" in err["message"]
    assert_error(post(VTT, params={"lang": "en_US"}, headers=vtt), 422, "invalid_caption")
    assert_error(
        client.post(url, files={"other": ("x.vtt", VTT.encode())}, data={"lang": "en"}),
        422,
        "invalid_caption",
    )
    assert_error(
        client.post(
            "/api/v1/videos/AAAAAAAAAAAAAAAA/captions",
            params={"lang": "en"},
            content=VTT,
            headers=vtt,
        ),
        404,
    )
    services: Services = services_of(client)
    pending = run(client, create_video, services, "not yet")
    err = assert_error(
        client.post(
            f"/api/v1/videos/{pending}/captions", params={"lang": "en"}, content=VTT, headers=vtt
        ),
        409,
        "video_not_ready",
    )
    assert "uploading" in err["message"]
    assert client.get(url).json() == {"items": []}  # nothing was stored by any refusal


def test_storyboard_and_dash_urls(client: TestClient, clip3: Path) -> None:
    vid = ready(client, clip3)
    video = client.get(f"/api/v1/videos/{vid}").json()
    sb_url = video["storyboard_url"]
    assert sb_url and sb_url.endswith("/storyboard/storyboard.vtt")
    r = client.get(sb_url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vtt")
    sheet_names = {line.split("#", 1)[0] for line in r.text.splitlines() if line.startswith("sb_")}
    sheets = {}
    for name in sheet_names:
        sprite = client.get(urljoin(sb_url, name))  # through the origin, token inherited
        assert sprite.status_code == 200 and sprite.headers["content-type"] == "image/jpeg"
        sheets[name] = sprite.content
    tiles = check_storyboard(r.text, sheets, video["duration_s"])
    assert len(tiles) == 3  # one thumbnail per second of a 3 s video

    # every file the MPD names is served through the origin, relative to the signed MPD URL
    mpd_url = client.get(f"/api/v1/videos/{vid}/playback").json()["dash_url"]
    mpd = client.get(mpd_url).text
    _, reps = parse_mpd(mpd)
    served = {
        f for rep in reps for f in rep.files if client.head(urljoin(mpd_url, f)).status_code == 200
    }
    reps = check_mpd(mpd, served, video["duration_s"])
    assert {r.content for r in reps} == {"video", "audio"}


def test_poster_at_a_chosen_time(client: TestClient, clip3: Path) -> None:
    services = services_of(client)
    vid = ready(client, clip3)
    url = f"/api/v1/videos/{vid}/poster"
    before = client.get(f"/api/v1/videos/{vid}").json()["poster_url"]
    original = client.get(before)
    assert original.status_code == 200

    assert_error(client.post(url, json={"at_s": 3.5}), 422, "invalid_poster_time")
    assert_error(client.post(url, json={"at_s": -1}), 422)
    assert_error(client.post(url, json={"at": 1}), 422)
    assert_error(client.post("/api/v1/videos/AAAAAAAAAAAAAAAA/poster", json={"at_s": 1}), 404)
    pending = run(client, create_video, services, "not yet")
    assert_error(client.post(f"/api/v1/videos/{pending}/poster", json={"at_s": 0}), 409)

    r = client.post(url, json={"at_s": 2.5})
    assert r.status_code == 202, r.text
    assert r.json() == {"video_id": vid, "at_s": 2.5, "job_state": "queued"}
    assert client.get(f"/api/v1/videos/{vid}").json()["status"] == "ready"

    lease = run(client, claim_next, services, "test:1:0")
    assert lease is not None and lease.kind == "poster"
    assert run(client, run_job, services, lease) == "published"
    after = client.get(f"/api/v1/videos/{vid}").json()["poster_url"]
    assert after != before and after.rsplit("/", 1)[1].startswith("poster-")
    new = client.get(after)
    assert new.status_code == 200 and new.headers["content-type"] == "image/jpeg"
    assert "immutable" in new.headers["cache-control"]  # safe: the name is new
    assert new.content != original.content
    assert jpeg_size(new.content) == jpeg_size(original.content)


def test_audio_only_rung(client: TestClient, clip3: Path) -> None:
    services_of(client).settings.audio_only_rung = True
    vid = ready(client, clip3)
    hls_url, master = master_of(client, vid)
    lines = master.splitlines()
    audio_only = [
        (parse_attributes(line.split(":", 1)[1]), lines[i + 1])
        for i, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:") and lines[i + 1] == "audio/index.m3u8"
    ]
    assert len(audio_only) == 1
    attrs, _ = audio_only[0]
    assert attrs["CODECS"] == "mp4a.40.2" and "RESOLUTION" not in attrs
    assert client.get(urljoin(hls_url, "audio/index.m3u8")).status_code == 200
    playback = client.get(f"/api/v1/videos/{vid}/playback").json()
    assert "audio-only" in client.get(playback["dash_url"]).text
