"""Hostile Range headers on the origin, by its rules (delivery/responses.py): several ranges,
a reversed range, a malformed header or another unit give the whole file (200); a range past
the end, or ``-0``, is 416 with ``Content-Range: bytes */size``; an overlong end is cut to the
file."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import SEGMENT, World

SIZE = len(SEGMENT)

# (id, Range, status, the bytes expected (slice of the segment) or None for a 416)
CASES: list[tuple[str, str, int, slice | None]] = [
    ("multiple-ranges", "bytes=0-0,5-10", 200, slice(None)),
    ("many-ranges", "bytes=" + ",".join(f"{i}-{i}" for i in range(500)), 200, slice(None)),
    ("reversed", "bytes=10-5", 200, slice(None)),
    ("past-the-end", f"bytes={SIZE}-", 416, None),
    ("far-past-the-end", "bytes=99999999999999999999999999-", 416, None),
    ("suffix-zero", "bytes=-0", 416, None),
    ("other-unit", "items=0-10", 200, slice(None)),
    ("garbage", "bytes=abc", 200, slice(None)),
    ("empty-spec", "bytes=", 200, slice(None)),
    ("negative-start", "bytes=-5-10", 200, slice(None)),
    ("overlong-end", "bytes=0-99999999999999999999", 206, slice(0, SIZE)),
    ("suffix-larger-than-file", "bytes=-99999999", 206, slice(0, SIZE)),
    ("last-byte", f"bytes={SIZE - 1}-", 206, slice(SIZE - 1, SIZE)),
    ("no-equals", "bytes 0-10", 200, slice(None)),
    ("nul-byte", "bytes=0-1\x00", 200, slice(None)),
]


@pytest.mark.parametrize(
    ("header", "status", "expected"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_hostile_range(intact: World, header: str, status: int, expected: slice | None) -> None:
    w = intact
    token = w.services.signer.sign(w.video_id, 2_000_000_000)
    url = f"/media/{w.video_id}/{w.rev}/{token}/v360/seg_00001.m4s"
    r = w.request("GET", url, None, headers={"Range": header})
    assert r.status_code == status, r.text[:300]
    if expected is None:
        assert r.headers["content-range"] == f"bytes */{SIZE}"
    else:
        assert r.content == SEGMENT[expected]
        if status == 206:
            assert r.headers["content-range"].endswith(f"/{SIZE}")
