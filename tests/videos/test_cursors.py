"""Hostile list cursors: forged, tampered, of another listing, garbage. Every one is a 400 with
the ``invalid_cursor`` reason on the API and the HTML 400 page on the pages, never a 500; a
listing still pages through with the cursors it issued."""

from __future__ import annotations

import base64
import json
import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from reelstream.http.pagination import filter_key
from reelstream.services import Services
from tests.videos.factories import create_video

# The issue's cursor: ["9999-12-31T23:59:59-23:59", "AAAAAAAAAAAAAAAA", "b2c2a03c6015"]
ISSUE_CURSOR = (
    "WyI5OTk5LTEyLTMxVDIzOjU5OjU5LTIzOjU5IiwgIkFBQUFBQUFBQUFBQUFBQUEiLCAiYjJjMmEwM2M2MDE1Il0"
)


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _services(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


PUBLIC = filter_key(None, "public", None, None)  # the unfiltered public listing


def _hostile(services: Services) -> dict[str, str]:
    """Every cursor a client might send that we never issued for the public listing."""
    good = services.cursors.encode(["2026-01-01T00:00:00+00:00", "AAAAAAAAAAAAAAAA"], PUBLIC)
    payload, kid, sig = good.split(".")
    return {
        "issue-9999": ISSUE_CURSOR,
        "issue-0001": _b64(["0001-01-01T00:00:00+23:59", "AAAAAAAAAAAAAAAA", PUBLIC]),
        "forged-unsigned": _b64(["2026-01-01T00:00:00+00:00", "AAAAAAAAAAAAAAAA", PUBLIC]),
        "forged-under-a-real-signature": ".".join(
            (_b64(["9999-12-31T23:59:59-23:59", "AAAAAAAAAAAAAAAA", PUBLIC]), kid, sig)
        ),
        "tampered-signature": f"{payload}.{kid}.{sig[::-1]}",
        "unknown-key": f"{payload}.zz9.{sig}",
        "another-filter": services.cursors.encode(
            ["2026-01-01T00:00:00+00:00", "AAAAAAAAAAAAAAAA"],
            filter_key("ready", "public", None, None),
        ),
        # signed (as if by us) but out of range: refused by the parser, not the database
        "signed-overflow": services.cursors.encode(
            ["9999-12-31T23:59:59-23:59", "AAAAAAAAAAAAAAAA"], PUBLIC
        ),
        "signed-naive-date": services.cursors.encode(
            ["2026-01-01T00:00:00", "AAAAAAAAAAAAAAAA"], PUBLIC
        ),
        "signed-bad-id": services.cursors.encode(
            ["2026-01-01T00:00:00+00:00", "../../etc"], PUBLIC
        ),
        "garbage-base64": "!!!!",
        "garbage-not-json": "bm90IGpzb24",
        "garbage-dots": "a.b.c",
        "empty-json-list": _b64([]),
        "very-long": "A" * 290,
    }


HOSTILE_NAMES = [
    "issue-9999",
    "issue-0001",
    "forged-unsigned",
    "forged-under-a-real-signature",
    "tampered-signature",
    "unknown-key",
    "another-filter",
    "signed-overflow",
    "signed-naive-date",
    "signed-bad-id",
    "garbage-base64",
    "garbage-not-json",
    "garbage-dots",
    "empty-json-list",
    "very-long",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("owner", [None, "me", "owner"])
def test_a_hostile_cursor_is_400_on_the_api(
    client: TestClient, name: str, owner: str | None
) -> None:
    cursor = _hostile(_services(client))[name]
    params = {"cursor": cursor} | ({"owner": owner} if owner else {})
    r = client.get("/api/v1/videos", params=params)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_cursor" and "cursor" in error["message"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("path", ["/", "/me/videos"])
def test_a_hostile_cursor_is_the_400_page(client: TestClient, name: str, path: str) -> None:
    r = client.get(path, params={"cursor": _hostile(_services(client))[name]})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "Bad page link" in r.text


def test_listings_page_through_with_the_cursors_they_issue(client: TestClient) -> None:
    services = _services(client)
    assert client.portal is not None
    made = [client.portal.call(create_video, services, f"v{i}") for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2, "owner": "me"}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/videos", params=params).json()
        seen += [v["id"] for v in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert cursor.count(".") == 2  # payload.kid.signature
        # the same cursor with another filter is refused
        other = client.get("/api/v1/videos", params={"cursor": cursor, "status": "ready"})
        assert other.status_code == 400
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))


def test_the_page_links_carry_signed_cursors(client: TestClient) -> None:
    services = _services(client)
    assert client.portal is not None
    for i in range(30):
        client.portal.call(create_video, services, f"v{i}")
    first = client.get("/me/videos")
    match = re.search(r'<a rel="next" class="older" href="([^"]+)"', first.text)
    assert match
    assert client.get(unescape(match.group(1))).status_code == 200
