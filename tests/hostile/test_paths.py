"""Hostile ids and paths in the API, the origin and the pages: traversal (plain and encoded),
encoded NUL, over-long and non-ASCII ids. The API answers a JSON error, a page its HTML error
page; nothing outside the rev's folder is ever served."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import World, error_code

LONG_ID = "A" * 5000

# (id, surface, hostile part, status); surface "api" puts it in /api/v1/videos/{id},
# "media-id"/"media-rev"/"media-path" in /media/{id}/{rev}/{token}/{path}, "watch" in /watch/{id}.
CASES: list[tuple[str, str, str, int]] = [
    ("api-dotdot-encoded", "api", "..%2f..%2fadmin", 404),
    ("api-dotdot-double-encoded", "api", "..%252f..%252fetc%252fpasswd", 404),
    ("api-nul", "api", "abc%00def", 404),
    ("api-over-long", "api", LONG_ID, 404),
    ("api-unicode", "api", "%E2%80%AEvideo%F0%9F%98%80", 404),
    ("api-sql", "api", "1%27%20OR%20%271%27%3D%271", 404),
    ("api-16-chars-bad-alphabet", "api", "AAAAAAAAAAAAAA-_", 404),
    ("media-id-traversal", "media-id", "..%2f..%2fsecrets", 404),
    ("media-rev-traversal", "media-rev", "..%2f..%2f..", 404),
    ("media-path-traversal", "media-path", "..%2f..%2fsource", 404),
    ("media-path-double-dot-segments", "media-path", "v360/..%2f..%2f..%2fsource", 404),
    ("media-path-backslash", "media-path", "..%5c..%5csource", 404),
    ("media-path-nul", "media-path", "master.m3u8%00.jpg", 404),
    ("media-path-absolute", "media-path", "%2fetc%2fpasswd", 404),
    ("media-path-over-long", "media-path", "a/" * 2000 + "x.m4s", 404),
    ("media-path-unicode", "media-path", "v360/%C0%AE%C0%AE/source", 404),
    ("watch-traversal", "watch", "..%2f..%2fadmin", 404),
    ("watch-nul", "watch", "%00", 404),
    ("watch-over-long", "watch", LONG_ID, 404),
    ("watch-unicode", "watch", "%F0%9F%92%A3%F0%9F%92%A3", 404),
]


@pytest.mark.parametrize(
    ("surface", "part", "status"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_hostile_path(intact: World, surface: str, part: str, status: int) -> None:
    w = intact
    token = w.services.signer.sign(w.video_id, 2_000_000_000)
    url = {
        "api": f"/api/v1/videos/{part}",
        "media-id": f"/media/{part}/{w.rev}/{token}/master.m3u8",
        "media-rev": f"/media/{w.video_id}/{part}/{token}/master.m3u8",
        "media-path": f"/media/{w.video_id}/{w.rev}/{token}/{part}",
        "watch": f"/watch/{part}",
    }[surface]
    page = {"Accept": "text/html"} if surface == "watch" else {}  # as a browser asks
    r = w.request("GET", url, headers=page)
    assert r.status_code == status, r.text[:500]
    if surface == "watch":
        assert r.headers["content-type"].startswith("text/html")
    else:
        assert error_code(r)
        assert b"TOP" not in r.content and not r.content.startswith(b"#EXTM3U")
