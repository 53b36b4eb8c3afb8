"""Listing filters (status, owner, q) with cursor pagination, over the HTTP API and the
pages; the repository's filters on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import html
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reelstream.http.pagination import InvalidCursor
from reelstream.services import Services
from reelstream.videos import repository as repo
from tests.support import bearer, create_account
from tests.videos.factories import create_video, publish_fake, queue_video


def run(client: TestClient, fn: Any, *args: Any, **kw: Any) -> Any:
    assert client.portal is not None
    return client.portal.call(functools.partial(fn, *args, **kw))


def make(
    client: TestClient,
    title: str,
    *,
    visibility: str = "public",
    owner: str = "owner",
    ready: bool = True,
) -> str:
    services = client.app.state.services  # type: ignore[attr-defined]
    vid = str(run(client, create_video, services, title, visibility=visibility, owner=owner))
    if ready:
        run(client, publish_fake, services, vid)
    else:
        run(client, queue_video, services, vid)
    return vid


def walk(client: TestClient, query: str, limit: int = 2, **kw: Any) -> list[str]:
    """Every id of a listing, page by page through next_cursor."""
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        url = f"/api/v1/videos?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        r = client.get(url, **kw)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [v["id"] for v in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the listing never ended")


def test_filters_and_pagination_have_no_duplicates_or_gaps(client: TestClient) -> None:
    cats = [make(client, f"Cat video {n}") for n in range(5)]
    dogs = [make(client, f"dog video {n}") for n in range(3)]
    queued_cats = [make(client, f"CAT queued {n}", ready=False) for n in range(3)]
    make(client, "cat private", visibility="private")
    make(client, "cat unlisted", visibility="unlisted")

    got = walk(client, "q=cat")  # case-insensitive; public and watchable only
    assert got == list(reversed(cats))
    assert walk(client, "q=cat&status=ready") == list(reversed(cats))
    assert walk(client, "q=cat&status=queued", limit=1) == []  # not watchable yet
    # the owner's own list keeps every status (and visibility)
    assert walk(client, "owner=me&q=cat&status=queued", limit=1) == list(reversed(queued_cats))
    assert len(walk(client, "owner=me&q=cat", limit=3)) == 5 + 3 + 2
    assert walk(client, "q=DOG") == list(reversed(dogs))
    assert walk(client, "status=ready", limit=3) == list(reversed(cats + dogs))
    assert walk(client, "q=nothing-like-this") == []


def test_a_cursor_is_only_valid_with_its_filters(client: TestClient) -> None:
    for n in range(3):
        make(client, f"film {n}")
    first = client.get("/api/v1/videos?limit=1&q=film").json()
    cursor = first["next_cursor"]
    assert cursor
    assert client.get(f"/api/v1/videos?limit=1&q=film&cursor={cursor}").status_code == 200
    for other in ("q=fil", "", "status=ready&q=film", "owner=me&q=film"):
        r = client.get(f"/api/v1/videos?limit=1&{other}&cursor={cursor}")
        assert r.status_code == 400, (other, r.text)
        assert r.json()["error"]["code"] == "invalid_cursor"


def test_like_wildcards_are_literal(client: TestClient) -> None:
    hundred = make(client, "100% pure")
    make(client, "1000 things")
    underscore = make(client, "snake_case")
    make(client, "snakeXcase")
    backslash = make(client, "back\\slash")
    make(client, "backslash")
    assert walk(client, "q=100%25") == [hundred]
    assert walk(client, "q=%25") == [hundred]
    assert walk(client, "q=e_c") == [underscore]
    assert walk(client, "q=k%5Cs") == [backslash]


def test_owner_me_and_owner_by_username(client: TestClient, anon: TestClient) -> None:
    mine = {v: make(client, f"mine {v}", visibility=v) for v in ("public", "unlisted", "private")}
    other_token = create_account(client, "Alice")
    theirs = {
        v: make(client, f"alice {v}", visibility=v, owner="alice")
        for v in ("public", "unlisted", "private")
    }
    # owner=me: all of the caller's own, every visibility
    assert set(walk(client, "owner=me")) == set(mine.values())
    assert set(walk(client, "owner=me", headers=bearer(other_token))) == set(theirs.values())
    # a username (any case): that user's public videos only, whoever asks
    assert walk(client, "owner=ALICE") == [theirs["public"]]
    assert walk(client, "owner=alice", headers=bearer(other_token)) == [theirs["public"]]
    assert walk(client, "owner=owner") == [mine["public"]]
    assert walk(client, "owner=nobody-here") == []
    assert walk(client, "owner=alice&q=private") == []
    assert anon.get("/api/v1/videos?owner=me").status_code == 401


def test_library_page_searches_and_filters(client: TestClient, anon: TestClient) -> None:
    hit = make(client, "Sunset <timelapse> 100%")
    miss = make(client, "Morning run")
    queued = make(client, "Sunset queued", ready=False)
    private = make(client, "Sunset private", visibility="private")
    page = anon.get("/?q=sunset")
    assert page.status_code == 200
    text = page.text
    assert hit in text and queued not in text and miss not in text and private not in text
    assert html.escape("Sunset <timelapse> 100%") in text
    assert 'value="sunset"' in text  # the search box keeps the query
    assert "0 views" in text
    assert 'id="search-status"' not in text  # no status filter in the library
    assert "No videos match" in anon.get("/?q=zzz").text
    assert anon.get("/?status=bogus").status_code == 200  # a status is ignored
    mine = client.get("/me/videos?q=sunset&status=queued").text  # My videos keeps it
    assert queued in mine and hit not in mine and "selected>queued</option>" in mine


def test_library_pager_keeps_the_filters(client: TestClient, anon: TestClient) -> None:
    from reelstream.web import pages

    ids = [make(client, f"clip {n}") for n in range(pages.PAGE_SIZE + 1)]
    make(client, "other")
    first = anon.get("/?q=clip").text
    assert "q=clip&amp;cursor=" in first
    href = first.split('class="older" href="', 1)[1].split('"', 1)[0]
    second = anon.get(html.unescape(href)).text
    assert ids[0] in second and "other" not in second.split("video-list", 1)[-1]


def test_my_videos_page_searches(client: TestClient) -> None:
    a = make(client, "holiday private", visibility="private")
    b = make(client, "work talk")
    token = client.app.state.owner_token  # type: ignore[attr-defined]
    text = client.get("/me/videos?q=HOLIDAY", headers=bearer(token)).text
    assert a in text and b not in text


@pytest.fixture
def services(db_services: Services) -> Services:
    """Services on each database backend (``db_services``): every test runs on both."""
    return db_services


async def test_repository_search_on_each_database(services: Services) -> None:
    wanted = [await create_video(services, t, owner=None) for t in ("A_1", "a_2", "50% off")]
    await create_video(services, "ab1", owner=None)
    seen: list[str] = []
    cursor = None
    while True:
        async with services.db.read() as s:
            page, cursor = await repo.list_videos(
                s, cursors=services.cursors, limit=1, cursor=cursor, q="a_"
            )
        seen += [v.id for v in page]
        if cursor is None:
            break
    assert seen == list(reversed(wanted[:2]))
    async with services.db.read() as s:
        page, nxt = await repo.list_videos(s, cursors=services.cursors, limit=1, q="0%")
        assert [v.id for v in page] == [wanted[2]]
        assert nxt is None
        _, cur = await repo.list_videos(s, cursors=services.cursors, limit=1, q="a")
        assert cur is not None
        with pytest.raises(InvalidCursor):
            await repo.list_videos(s, cursors=services.cursors, limit=1, cursor=cur, q="b")
