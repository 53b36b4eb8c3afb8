"""What viewers see: the public listings (library page, anonymous and other users' API list)
show public videos that can be watched now; the owner's list keeps every status; processing
detail (job, file name, failure reason, the timeline) is the owner's and admins' only."""

from __future__ import annotations

import functools
import re
from typing import Any

from fastapi.testclient import TestClient

from reelstream.services import Services
from reelstream.videos import repository as repo
from reelstream.videos.domain import VideoRendition
from tests.support import bearer, create_account
from tests.videos.factories import create_video, publish_fake, queue_video

NOT_AVAILABLE = "This video is not available."


def run(client: TestClient, fn: Any, *args: Any, **kw: Any) -> Any:
    assert client.portal is not None
    return client.portal.call(functools.partial(fn, *args, **kw))


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


async def _playable_while_processing(services: Services, vid: str) -> None:
    async with services.db.transaction() as s:
        await repo.mark_processing(s, vid)
        spec = VideoRendition("v240", 426, 240, 400_000, 350_000, "avc1", "v240/index.m3u8")
        await repo.publish_playable(s, vid, rev="0123456789ab", renditions=[spec])
        video = await repo.get_video(s, vid)
        video.media = {"growing": ["v240"]}


async def _fail(services: Services, vid: str, reason: str) -> None:
    async with services.db.transaction() as s:
        await repo.mark_failed(s, vid, reason)


def world(client: TestClient) -> dict[str, str]:
    """One video of each kind, all owned by the ``client`` fixture's user ``owner``."""
    services = services_of(client)

    def new(title: str, **kw: Any) -> str:
        return str(run(client, create_video, services, title, **kw))

    v = {
        "ready": new("seen ready"),
        "playable": new("seen playable"),
        "uploading": new("hidden uploading"),
        "queued": new("hidden queued"),
        "failed": new("hidden failed"),
        "unlisted": new("hidden unlisted", visibility="unlisted"),
        "private": new("hidden private", visibility="private"),
    }
    for key in ("ready", "unlisted", "private"):
        run(client, publish_fake, services, v[key])
    run(client, queue_video, services, v["queued"])
    run(client, queue_video, services, v["playable"])
    run(client, _playable_while_processing, services, v["playable"])
    run(client, queue_video, services, v["failed"])
    run(client, _fail, services, v["failed"], "the file is not a video: <moov atom not found>")
    return v


def listed(c: TestClient, query: str = "", **kw: Any) -> list[str]:
    r = c.get(f"/api/v1/videos?limit=100{query}", **kw)
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


def test_listings_show_viewers_only_watchable_public_videos(
    client: TestClient, anon: TestClient
) -> None:
    v = world(client)
    watchable = {v["ready"], v["playable"]}
    other = bearer(create_account(client, "viewer"))
    # the first page (the hot path), a filtered page, another user, a username
    assert set(listed(anon)) == watchable
    assert set(listed(anon, "&q=seen")) == watchable
    assert set(listed(anon, "&q=hidden")) == set()
    assert set(listed(client, "&q=e", headers=other)) == watchable
    assert set(listed(anon, "&owner=owner")) == watchable
    assert listed(anon, "&status=failed") == [] and listed(anon, "&status=uploading") == []
    # the library page: the same, and no status filter
    page = anon.get("/").text
    assert all(vid in page for vid in watchable)
    assert not any(v[k] in page for k in v if v[k] not in watchable)
    assert 'id="search-status"' not in page
    # the owner's list and "My videos" keep every status and visibility
    assert set(listed(client, "&owner=me")) == set(v.values())
    assert set(listed(client, "&owner=me&status=failed")) == {v["failed"]}
    mine = client.get("/me/videos").text
    assert all(vid in mine for vid in v.values()) and 'id="search-status"' in mine
    assert mine.count('class="edit-link"') == len(v)  # Edit on every card of My videos


def test_paging_the_public_listing_skips_what_viewers_cannot_watch(
    client: TestClient, anon: TestClient
) -> None:
    services = services_of(client)
    shown: list[str] = []
    for n in range(5):
        ready = run(client, create_video, services, f"page {n}")
        run(client, publish_fake, services, ready)
        shown.append(ready)
        run(client, create_video, services, f"page {n} uploading")  # between the ready ones
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        body = anon.get(f"/api/v1/videos?limit=2&q=page{cursor}").json()
        seen += [item["id"] for item in body["items"]]
        if body["next_cursor"] is None:
            break
        cursor = f"&cursor={body['next_cursor']}"
    assert seen == list(reversed(shown))


def test_processing_detail_is_for_the_owner_and_admins(
    client: TestClient, anon: TestClient
) -> None:
    v = world(client)
    other = bearer(create_account(client, "viewer"))
    admin = bearer(create_account(client, "boss", admin=True, scopes=("admin",)))
    failed, queued = v["failed"], v["queued"]
    for who in ({}, other):  # anonymous, another user
        seen = anon.get(f"/api/v1/videos/{failed}", headers=who).json()
        assert seen["job"] is None and seen["filename"] == ""
        assert seen["error"] == NOT_AVAILABLE and seen["status"] == "failed"
        assert "moov" not in anon.get(f"/watch/{failed}", headers=who).text
        waiting = anon.get(f"/api/v1/videos/{queued}", headers=who).json()
        assert waiting["job"] is None and waiting["error"] is None and waiting["filename"] == ""
        page = anon.get("/api/v1/videos?limit=100&q=seen", headers=who).json()["items"]
        assert page and all(i["job"] is None and i["filename"] == "" for i in page)
        playback = anon.get(f"/api/v1/videos/{failed}/playback", headers=who)
        assert playback.status_code == 409 and "moov" not in playback.text
    assert anon.get(f"/api/v1/videos/{failed}/timeline").status_code == 401
    denied = client.get(f"/api/v1/videos/{failed}/timeline", headers=other)
    assert denied.status_code == 403, denied.text
    private = client.get(f"/api/v1/videos/{v['private']}/timeline", headers=other)
    assert private.status_code == 403
    for who in ({}, admin):  # the owner (the client's own token), an admin
        mine = client.get(f"/api/v1/videos/{failed}", headers=who).json()
        assert "moov atom" in mine["error"] and mine["job"] is not None
        assert mine["filename"] == "hidden failed.mp4"
        assert client.get(f"/api/v1/videos/{failed}/timeline", headers=who).status_code == 200
    own = client.get("/api/v1/videos?limit=100&owner=me").json()["items"]
    assert {i["id"]: i["filename"] for i in own}[failed] == "hidden failed.mp4"


def test_the_watch_page_shows_viewers_no_processing_sections(
    client: TestClient, anon: TestClient
) -> None:
    v = world(client)
    page = anon.get(f"/watch/{v['queued']}").text
    assert 'id="player-overlay"' in page
    assert 'id="timeline"' not in page and 'id="rendition-list"' not in page
    assert 'id="edit-link"' not in page
    own = client.get(f"/watch/{v['queued']}").text
    assert 'id="timeline"' in own and 'id="rendition-list"' in own
    assert f'href="/studio/{v["queued"]}"' in own


def test_the_watch_page_text(client: TestClient, anon: TestClient) -> None:
    services = services_of(client)
    vid = run(client, create_video, services, "talk")
    run(client, publish_fake, services, vid)
    text = "First line <b>not bold</b>\nsecond line\n" + "long " * 100
    assert client.patch(f"/api/v1/videos/{vid}", json={"description": text}).status_code == 200
    page = anon.get(f"/watch/{vid}").text
    assert re.search(r'id="video-uploader">by <strong>owner</strong>', page)
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page and "<b>not bold" not in page
    assert '<details class="description-more">' in page and "Show more" in page
    assert re.search(
        r'<time id="video-date" datetime="[^"]+" title="[^"]+ UTC">just now</time>', page
    )
    assert f'value="http://testserver/watch/{vid}"' in page
    assert f"&lt;iframe src=&#34;http://testserver/embed/{vid}&#34;" in page
    assert 'id="unlisted-note"' not in page
    # unlisted: the note; private: no embed code; no owner: "unknown"
    client.patch(f"/api/v1/videos/{vid}", json={"visibility": "unlisted"})
    assert 'id="unlisted-note"' in anon.get(f"/watch/{vid}").text
    client.patch(f"/api/v1/videos/{vid}", json={"visibility": "private"})
    private = client.get(f"/watch/{vid}").text
    assert 'id="embed-code"' not in private and 'id="share-url"' in private
    orphan = run(client, create_video, services, "old", owner=None)
    assert "by <strong>unknown</strong>" in anon.get(f"/watch/{orphan}").text
