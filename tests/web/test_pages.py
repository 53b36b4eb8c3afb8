"""The server-rendered pages: library, upload, watch, error pages and static files."""

from __future__ import annotations

import datetime as dt
import html
import re
from html.parser import HTMLParser
from typing import Any

from fastapi.testclient import TestClient
from markupsafe import escape

from reelstream.auth.accounts import find_user
from reelstream.db.models import Video
from reelstream.services import Services
from reelstream.videos import repository as repo
from reelstream.videos.domain import VideoRendition
from reelstream.web.pages import PAGE_SIZE
from reelstream.web.render import (
    STATIC_DIR,
    format_ago,
    format_bitrate,
    format_duration,
    short_side,
)
from tests.support import require

EVIL_TITLE = '<script>alert("x")</script> & friends'
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


class _NestingChecker(HTMLParser):
    """Fails on mis-nested or unclosed elements (a cheap well-formedness check)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids += [v for k, v in attrs if k == "id" and v]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def assert_valid_html(text: str) -> None:
    assert text.lstrip().lower().startswith("<!doctype html>")
    checker = _NestingChecker()
    checker.feed(text)
    checker.close()
    assert not checker.errors, checker.errors
    assert not checker.stack, f"unclosed: {checker.stack}"
    duplicates = {i for i in checker.ids if checker.ids.count(i) > 1}
    assert not duplicates, f"duplicate ids: {duplicates}"


def _services(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


async def _create(
    services: Services, title: str, visibility: str = "public", owner: str | None = None
) -> str:
    async with services.db.transaction() as s:
        owner_id = None
        if owner is not None:
            found = await find_user(s, owner)
            assert found is not None
            owner_id = found.id
        video: Video = await repo.create_video(
            s, title=title, filename="in.mp4", visibility=visibility, owner_id=owner_id
        )
        return video.id


async def _publish(services: Services, video_id: str) -> str:
    async with services.db.transaction() as s:
        await repo.record_probe(
            s, video_id, duration_s=75.4, width=1280, height=720, has_audio=True, probe={}
        )
        specs = [
            VideoRendition("v360", 640, 360, 900_000, 800_000, "avc1.64001e", "v360/index.m3u8"),
            VideoRendition(
                "v720", 1280, 720, 2_800_000, 2_500_000, "avc1.64001f", "v720/index.m3u8"
            ),
        ]
        await repo.publish(s, video_id, rev="abcdef012345", renditions=specs, output_bytes=1)
    return "abcdef012345"


async def _fail(services: Services, video_id: str, reason: str) -> None:
    async with services.db.transaction() as s:
        await repo.mark_failed(s, video_id, reason)


def create(
    client: TestClient, title: str, visibility: str = "public", owner: str | None = None
) -> str:
    """A video (no owner unless ``owner``: the ``client`` fixture's user is ``owner``)."""
    assert client.portal is not None
    return client.portal.call(_create, _services(client), title, visibility, owner)


def create_ready(client: TestClient, title: str, **kwargs: Any) -> str:
    vid = create(client, title, **kwargs)
    assert client.portal is not None
    client.portal.call(_publish, _services(client), vid)
    return vid


def _html(r: Any, status: int = 200) -> str:
    """``r``: the TestClient's response (an httpx-compatible object)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    text: str = r.text
    assert_valid_html(text)
    return text


def test_library_lists_public_videos_with_escaped_titles(client: TestClient) -> None:
    vid = create_ready(client, EVIL_TITLE)
    hidden = create_ready(client, "not listed", visibility="unlisted")
    uploading = create(client, "half uploaded")

    page = _html(client.get("/"))

    assert str(escape(EVIL_TITLE)) in page
    assert "<script>alert" not in page
    assert f'href="/watch/{vid}"' in page
    assert f"/watch/{hidden}" not in page and "not listed" not in page
    assert f"/watch/{uploading}" not in page and 'class="badge status-uploading"' not in page
    assert 'href="/upload"' in page
    assert 'id="search-status"' not in page  # no status filter for viewers


def test_library_pages_with_the_cursor(client: TestClient) -> None:
    ids = [create_ready(client, f"video number {i}") for i in range(PAGE_SIZE + 2)]
    first = _html(client.get("/"))
    newest, oldest = ids[-1], ids[0]
    assert f"/watch/{newest}" in first
    assert f"/watch/{oldest}" not in first
    match = re.search(r'<a rel="next" class="older" href="([^"]+)"', first)
    assert match, "no link to older videos"

    second = _html(client.get(html.unescape(match.group(1))))
    assert f"/watch/{oldest}" in second
    assert f"/watch/{newest}" not in second
    assert 'rel="next"' not in second  # the end


def test_library_with_a_forged_cursor_is_a_400_page(client: TestClient) -> None:
    page = _html(client.get("/", params={"cursor": "not-a-cursor"}), 400)
    assert "Bad page link" in page


def test_library_shows_a_signed_poster_for_ready_videos(client: TestClient) -> None:
    services = _services(client)
    vid = create(client, "ready one")
    assert client.portal is not None
    rev = client.portal.call(_publish, services, vid)

    page = _html(client.get("/"))
    match = re.search(rf'src="/media/{vid}/{rev}/([^/"]+)/poster.jpg"', page)
    assert match, page
    claims = services.signer.verify(match.group(1), vid)
    assert claims.video_id == vid
    assert ">1:15<" in page  # duration badge
    assert 'class="badge status-ready"' not in page  # the library shows watchable ones only


def test_upload_page_has_the_form_and_tus_client(client: TestClient) -> None:
    page = _html(client.get("/upload"))
    assert '<input id="file" name="file" type="file"' in page
    assert 'id="title"' in page
    for value in ("public", "unlisted", "private"):
        assert f'<option value="{value}"' in page
    assert 'id="upload-progress"' in page
    assert '<script src="/static/vendor/tus.min.js"></script>' in page
    assert '<script src="/static/upload.js"></script>' in page


def test_watch_page_of_a_processing_video(client: TestClient) -> None:
    vid = create(client, EVIL_TITLE)
    page = _html(client.get(f"/watch/{vid}"))
    escaped = str(escape(EVIL_TITLE))
    assert f"<title>{escaped} · reelstream</title>" in page
    assert f'<h1 id="video-title">{escaped}</h1>' in page
    assert "<script>alert" not in page
    assert f'data-video-id="{vid}"' in page
    assert '<video id="player"' in page
    assert '<media-rendition-menu-button id="quality-button">' in page  # the player's own bar
    assert 'id="processing-progress"' in page
    assert '<script src="/static/vendor/hls.min.js"></script>' in page
    assert '<script type="module" src="/static/player.js"></script>' in page
    assert '<script type="module" src="/static/watch.js"></script>' in page
    assert re.search(r'<div class="player-overlay" id="player-overlay">', page)  # visible


def test_watch_page_of_a_ready_video_lists_renditions(client: TestClient) -> None:
    services = _services(client)
    vid = create(client, "ready", owner="owner")
    assert client.portal is not None
    rev = client.portal.call(_publish, services, vid)
    page = _html(client.get(f"/watch/{vid}"))
    assert "<li>720p · 2.8 Mbps</li>" in page
    assert "<li>360p · 900 kbps</li>" in page
    assert page.index("720p") < page.index("360p")  # best first
    assert f'poster="/media/{vid}/{rev}/' in page
    assert '<span id="video-duration">1:15</span>' in page
    assert 'id="player-overlay" hidden' in page


def test_watch_page_of_a_failed_video_shows_the_reason_to_its_owner_only(
    client: TestClient, anon: TestClient
) -> None:
    vid = create(client, "broken", owner="owner")
    reason = "The file is not a video we can read: <moov atom not found>"
    assert client.portal is not None
    client.portal.call(_fail, _services(client), vid, reason)
    failure = r'<p class="error-box" id="failure" role="alert">([^<]*)</p>'
    page = _html(client.get(f"/watch/{vid}"))
    box = re.search(failure, page)
    assert box, "the failure reason is not shown"
    assert html.unescape(box.group(1)) == reason
    assert 'id="timeline"' in page and 'id="rendition-list"' in page
    viewer = _html(anon.get(f"/watch/{vid}"))
    box = re.search(failure, viewer)
    assert box and box.group(1) == "This video is not available."
    assert "moov" not in viewer
    assert 'id="timeline"' not in viewer and 'id="rendition-list"' not in viewer


def test_unknown_video_is_an_html_404(client: TestClient) -> None:
    for vid in ("AAAAAAAAAAAAAAAA", "no.such-id~", "x"):
        page = _html(client.get(f"/watch/{vid}"), 404)
        assert "Video not found" in page


def test_unknown_page_is_html_for_browsers_and_json_for_the_api(client: TestClient) -> None:
    page = _html(client.get("/no/such/page", headers={"Accept": "text/html"}), 404)
    assert "Page not found" in page

    api = client.get("/api/v1/no-such-thing", headers={"Accept": "text/html"})
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"

    plain = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert plain.status_code == 404
    assert plain.json()["error"]["code"] == "not_found"


def test_static_files_are_served(client: TestClient) -> None:
    for name, kind in (
        ("app.css", "text/css"),
        ("common.js", "javascript"),
        ("upload.js", "javascript"),
        ("watch.js", "javascript"),
        ("library.js", "javascript"),
    ):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200, name
        assert kind in r.headers["content-type"], (name, r.headers["content-type"])
        assert r.content == (STATIC_DIR / name).read_bytes()
    assert client.get("/static/nope.js").status_code == 404


def test_vendor_libraries_are_served(client: TestClient) -> None:
    vendor = STATIC_DIR / "vendor"
    built = (vendor / "hls.min.js").is_file() and (vendor / "tus.min.js").is_file()
    require(built, "the browser libraries in web/static/vendor (run `make assets`)")
    hls = client.get("/static/vendor/hls.min.js")
    assert hls.status_code == 200
    assert "javascript" in hls.headers["content-type"]
    assert b"isSupported" in hls.content and len(hls.content) > 100_000
    tus = client.get("/static/vendor/tus.min.js")
    assert tus.status_code == 200
    assert b"Upload" in tus.content


def test_formatting_helpers() -> None:
    assert format_duration(None) == "—"
    assert format_duration(5.4) == "0:05"
    assert format_duration(75.4) == "1:15"
    assert format_duration(3725) == "1:02:05"
    assert format_bitrate(2_800_000) == "2.8 Mbps"
    assert format_bitrate(400_000) == "400 kbps"
    assert format_bitrate(None) == "—"


def test_ago_says_how_long_ago_in_the_largest_unit() -> None:
    now = dt.datetime(2026, 5, 10, 12, 0, tzinfo=dt.UTC)
    cases = {
        dt.timedelta(seconds=5): "just now",
        dt.timedelta(seconds=-30): "just now",  # a clock slightly ahead
        dt.timedelta(minutes=1): "1 minute ago",
        dt.timedelta(minutes=59, seconds=59): "59 minutes ago",
        dt.timedelta(hours=2): "2 hours ago",
        dt.timedelta(days=3, hours=5): "3 days ago",
        dt.timedelta(days=7): "1 week ago",
        dt.timedelta(days=45): "1 month ago",
        dt.timedelta(days=800): "2 years ago",
    }
    for delta, text in cases.items():
        assert format_ago(now - delta, now) == text, delta
    assert format_ago(None) == ""
    assert short_side(720, 1280) == 720 and short_side(1280, 720) == 720
