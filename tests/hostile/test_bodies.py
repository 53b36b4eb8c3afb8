"""Hostile JSON bodies: wrong types, extra fields, huge strings, deep nesting, invalid JSON,
the wrong content type, on the video edit and webhook creation endpoints. Each is a 422 with
a JSON error (never a 500), and the video edited by none of them keeps its title."""

from __future__ import annotations

from typing import Any

import pytest

from tests.hostile.conftest import World, error_code

DEEP = "[" * 5000 + "]" * 5000

# (id, endpoint, raw body, content type, status, code)
CASES: list[tuple[str, str, bytes, str, int, str]] = [
    ("title-number", "video", b'{"title": 5}', "application/json", 422, "invalid_request"),
    ("title-list", "video", b'{"title": ["a"]}', "application/json", 422, "invalid_request"),
    (
        "title-null-visibility-bogus",
        "video",
        b'{"visibility": "everyone"}',
        "application/json",
        422,
        "invalid_request",
    ),
    (
        "extra-field-owner",
        "video",
        b'{"title": "x", "owner_id": "AAAAAAAAAAAAAAAA"}',
        "application/json",
        422,
        "invalid_request",
    ),
    (
        "extra-field-status",
        "video",
        b'{"status": "ready"}',
        "application/json",
        422,
        "invalid_request",
    ),
    (
        "title-huge",
        "video",
        b'{"title": "' + b"x" * 200_000 + b'"}',
        "application/json",
        422,
        "invalid_request",
    ),
    ("title-empty", "video", b'{"title": ""}', "application/json", 422, "invalid_request"),
    ("deep-nesting", "video", DEEP.encode(), "application/json", 400, "http_error"),
    ("invalid-json", "video", b'{"title": "x",', "application/json", 422, "invalid_request"),
    ("json-not-object", "video", b'"just a string"', "application/json", 422, "invalid_request"),
    (
        "wrong-content-type",
        "video",
        b"title=x",
        "application/x-www-form-urlencoded",
        422,
        "invalid_request",
    ),
    ("invalid-utf8", "video", b'{"title": "\xff\xfe"}', "application/json", 400, "http_error"),
    ("webhook-url-number", "webhook", b'{"url": 1}', "application/json", 422, "invalid_request"),
    (
        "webhook-url-file",
        "webhook",
        b'{"url": "file:///etc/passwd"}',
        "application/json",
        422,
        "invalid_webhook",
    ),
    (
        "webhook-url-gopher",
        "webhook",
        b'{"url": "gopher://127.0.0.1:6379/_FLUSHALL"}',
        "application/json",
        422,
        "invalid_webhook",
    ),
    (
        "webhook-url-huge",
        "webhook",
        b'{"url": "https://a.example/' + b"a" * 100_000 + b'"}',
        "application/json",
        422,
        "invalid_request",
    ),
    ("webhook-deep-nesting", "webhook", DEEP.encode(), "application/json", 400, "http_error"),
    (
        "webhook-events-wrong-type",
        "webhook",
        b'{"url": "https://a.example/", "events": "all"}',
        "application/json",
        422,
        "invalid_request",
    ),
]


@pytest.mark.parametrize(
    ("endpoint", "body", "ctype", "status", "code"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_hostile_body(
    intact: World, endpoint: str, body: bytes, ctype: str, status: int, code: str
) -> None:
    w = intact
    method, url = {
        "video": ("PATCH", f"/api/v1/videos/{w.video_id}"),
        "webhook": ("POST", "/api/v1/webhooks"),
    }[endpoint]
    r = w.request(method, url, content=body, headers={"Content-Type": ctype})
    assert r.status_code == status, r.text[:500]
    assert error_code(r) == code
    video: dict[str, Any] = w.request("GET", f"/api/v1/videos/{w.video_id}").json()
    assert video["title"] == "bystander" and video["visibility"] == "public"
