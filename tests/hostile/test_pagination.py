"""Hostile page sizes and cursors on the listings: negative, zero, too large, huge,
non-numeric, fractional ``limit``; a cursor that is not base64 JSON. Each is a 4xx JSON
error."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import World, error_code

# (id, url, who, status, code)
CASES: list[tuple[str, str, str, int, str]] = [
    ("videos-limit-negative", "/api/v1/videos?limit=-1", "owner", 422, "invalid_request"),
    ("videos-limit-zero", "/api/v1/videos?limit=0", "owner", 422, "invalid_request"),
    ("videos-limit-over-max", "/api/v1/videos?limit=101", "owner", 422, "invalid_request"),
    ("videos-limit-huge", "/api/v1/videos?limit=" + "9" * 40, "owner", 422, "invalid_request"),
    ("videos-limit-text", "/api/v1/videos?limit=ten", "owner", 422, "invalid_request"),
    ("videos-limit-float", "/api/v1/videos?limit=1.5", "owner", 422, "invalid_request"),
    ("videos-limit-exponent", "/api/v1/videos?limit=1e2", "owner", 422, "invalid_request"),
    ("videos-limit-twice", "/api/v1/videos?limit=5&limit=-5", "owner", 422, "invalid_request"),
    ("videos-cursor-junk", "/api/v1/videos?cursor=%25%25%25", "owner", 400, "invalid_cursor"),
    ("videos-status-bogus", "/api/v1/videos?status=pwned", "owner", 422, "invalid_request"),
    ("jobs-limit-negative", "/api/v1/admin/jobs?limit=-1", "admin", 422, "invalid_request"),
    ("jobs-limit-huge", "/api/v1/admin/jobs?limit=" + "9" * 40, "admin", 422, "invalid_request"),
    ("jobs-cursor-junk", "/api/v1/admin/jobs?cursor=!!!!", "admin", 400, "invalid_cursor"),
    (
        "degraded-limit-text",
        "/api/v1/admin/degraded-videos?limit=x",
        "admin",
        422,
        "invalid_request",
    ),
]


@pytest.mark.parametrize(
    ("url", "who", "status", "code"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_hostile_page_size(intact: World, url: str, who: str, status: int, code: str) -> None:
    r = intact.request("GET", url, who)
    assert r.status_code == status, r.text
    assert error_code(r) == code
