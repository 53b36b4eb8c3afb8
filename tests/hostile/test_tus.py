"""tus abuse: creation headers, metadata, offsets, bodies, checksums and other callers'
uploads. Each attack gets its exact status and error code; the bystander upload (attacked
directly by some cases) keeps its offset, and so does this table's own target upload."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.hostile.conftest import World, error_code
from tests.ingest.helpers import OCTETS, TUS, b64, metadata

GOOD_META = metadata(filename="a.mp4", title="a")
TARGET_LENGTH = 1000
TARGET_SENT = 100


def md5_of(data: bytes) -> str:
    return "md5 " + base64.b64encode(hashlib.md5(data).digest()).decode()


def create(**headers: str) -> dict[str, str]:
    return {**TUS, "Upload-Length": "100", "Upload-Metadata": GOOD_META, **headers}


def patch(offset: int | str, **headers: str) -> dict[str, str]:
    return {**TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS, **headers}


def without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


# (id, method, target, who, headers, body, status, code)
# target: "create" (POST /api/v1/uploads), "mine" (this table's upload, 100 of 1000 bytes sent),
# "bystander" (the package's upload in progress), "unknown" (an id no upload has).
CASES: list[tuple[str, str, str, str | None, dict[str, str], bytes, int, str]] = [
    (
        "no-tus-resumable",
        "POST",
        "create",
        "owner",
        without(create(), "Tus-Resumable"),
        b"",
        412,
        "unsupported_tus_version",
    ),
    (
        "tus-resumable-0.2.2",
        "POST",
        "create",
        "owner",
        create(**{"Tus-Resumable": "0.2.2"}),
        b"",
        412,
        "unsupported_tus_version",
    ),
    (
        "tus-resumable-garbage",
        "POST",
        "create",
        "owner",
        create(**{"Tus-Resumable": "1.0.0; drop table"}),
        b"",
        412,
        "unsupported_tus_version",
    ),
    (
        "length-negative",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Length": "-1"}),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "length-zero",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Length": "0"}),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "length-huge",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Length": "99999999999999999999999"}),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "length-over-limit",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Length": str(21 * 1024**3)}),
        b"",
        413,
        "upload_too_large",
    ),
    (
        "length-hex",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Length": "0x10"}),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "length-float",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Length": "1e3"}),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "length-missing",
        "POST",
        "create",
        "owner",
        without(create(), "Upload-Length"),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "defer-length",
        "POST",
        "create",
        "owner",
        {**without(create(), "Upload-Length"), "Upload-Defer-Length": "1"},
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "metadata-bad-base64",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Metadata": "filename !!!notbase64"}),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "metadata-three-parts",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Metadata": f"filename {b64('a')} extra"}),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "metadata-duplicate-key",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Metadata": f"filename {b64('a')},filename {b64('b')}"}),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "metadata-bad-key",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Metadata": f"file$name {b64('a')}"}),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "metadata-empty-key",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Metadata": f" {b64('a')}"}),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "metadata-over-long",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Metadata": "filename " + b64("a" * 9000)}),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "metadata-visibility-bogus",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Metadata": metadata(filename="a.mp4", visibility="everyone")}),
        b"",
        400,
        "bad_tus_request",
    ),
    (
        "metadata-title-nul",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Metadata": metadata(filename="a.mp4", title="a\x00b")}),
        b"",
        422,
        "invalid_title",  # the one title check (reelstream.videos.titles), as PATCH answers
    ),
    ("create-anonymous", "POST", "create", None, create(), b"", 401, "not_authenticated"),
    ("create-read-scope", "POST", "create", "reader", create(), b"", 403, "insufficient_scope"),
    (
        "create-body-wrong-type",
        "POST",
        "create",
        "owner",
        create(**{"Content-Type": "text/plain"}),
        b"0123456789",
        415,
        "unsupported_media_type",
    ),
    (
        "create-body-past-length",
        "POST",
        "create",
        "owner",
        create(**{"Upload-Length": "4", "Content-Type": OCTETS}),
        b"0123456789",
        413,
        "upload_too_large",
    ),
    (
        "patch-wrong-content-type",
        "PATCH",
        "mine",
        "owner",
        patch(TARGET_SENT, **{"Content-Type": "application/octet-stream"}),
        b"xx",
        415,
        "unsupported_media_type",
    ),
    (
        "patch-no-offset",
        "PATCH",
        "mine",
        "owner",
        without(patch(0), "Upload-Offset"),
        b"xx",
        400,
        "bad_tus_request",
    ),
    ("patch-negative-offset", "PATCH", "mine", "owner", patch(-1), b"xx", 400, "bad_tus_request"),
    ("patch-offset-text", "PATCH", "mine", "owner", patch("ten"), b"xx", 400, "bad_tus_request"),
    ("patch-offset-behind", "PATCH", "mine", "owner", patch(0), b"xx", 409, "offset_mismatch"),
    (
        "patch-offset-ahead",
        "PATCH",
        "mine",
        "owner",
        patch(TARGET_SENT + 50),
        b"xx",
        409,
        "offset_mismatch",
    ),
    (
        "patch-past-length",
        "PATCH",
        "mine",
        "owner",
        patch(TARGET_SENT),
        bytes(TARGET_LENGTH),
        413,
        "upload_too_large",
    ),
    (
        "patch-checksum-mismatch",
        "PATCH",
        "mine",
        "owner",
        patch(TARGET_SENT, **{"Upload-Checksum": md5_of(b"something else")}),
        b"abcd",
        460,
        "checksum_mismatch",
    ),
    (
        "patch-checksum-unknown-algorithm",
        "PATCH",
        "mine",
        "owner",
        patch(TARGET_SENT, **{"Upload-Checksum": "crc32 AAAA"}),
        b"abcd",
        400,
        "unsupported_checksum",
    ),
    (
        "patch-checksum-not-base64",
        "PATCH",
        "mine",
        "owner",
        patch(TARGET_SENT, **{"Upload-Checksum": "md5 ###"}),
        b"abcd",
        400,
        "bad_tus_request",
    ),
    (
        "patch-no-tus-resumable",
        "PATCH",
        "mine",
        "owner",
        without(patch(TARGET_SENT), "Tus-Resumable"),
        b"ab",
        412,
        "unsupported_tus_version",
    ),
    ("head-other-users-upload", "HEAD", "bystander", "other", TUS, b"", 403, ""),
    ("head-anonymous", "HEAD", "bystander", None, TUS, b"", 401, ""),
    (
        "patch-other-users-upload",
        "PATCH",
        "bystander",
        "other",
        patch(32 * 1024),
        b"evil",
        403,
        "forbidden",
    ),
    (
        "patch-anonymous",
        "PATCH",
        "bystander",
        None,
        patch(32 * 1024),
        b"evil",
        401,
        "not_authenticated",
    ),
    (
        "patch-read-scope",
        "PATCH",
        "bystander",
        "reader",
        patch(32 * 1024),
        b"evil",
        403,
        "insufficient_scope",
    ),
    ("delete-other-users-upload", "DELETE", "bystander", "other", TUS, b"", 403, "forbidden"),
    ("delete-as-admin", "DELETE", "bystander", "admin", TUS, b"", 403, "forbidden"),
    ("head-unknown-id", "HEAD", "unknown", "owner", TUS, b"", 404, ""),
    ("patch-unknown-id", "PATCH", "unknown", "owner", patch(0), b"xx", 404, "upload_not_found"),
]


@pytest.fixture(scope="module")
def mine(world: World) -> str:
    """This table's own upload: 100 of its 1000 bytes sent."""
    r = world.request(
        "POST",
        "/api/v1/uploads",
        headers=create(**{"Upload-Length": str(TARGET_LENGTH)}),
    )
    assert r.status_code == 201, r.text
    url = r.headers["location"]
    r = world.request("PATCH", url, headers=patch(0), content=bytes(TARGET_SENT))
    assert r.status_code == 204, r.text
    return url


@pytest.mark.parametrize(
    ("method", "target", "who", "headers", "body", "status", "code"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_tus_attack(
    intact: World,
    mine: str,
    method: str,
    target: str,
    who: str | None,
    headers: dict[str, str],
    body: bytes,
    status: int,
    code: str,
) -> None:
    url = {
        "create": "/api/v1/uploads",
        "mine": mine,
        "bystander": intact.upload_url,
        "unknown": "/api/v1/uploads/AAAAAAAAAAAAAAAA",
    }[target]
    r = intact.request(method, url, who, headers=headers, content=body or None)
    assert r.status_code == status, r.text
    assert r.headers.get("tus-resumable") == "1.0.0"
    if code:
        assert error_code(r) == code
    if target == "create":
        assert "location" not in r.headers
    head = intact.request("HEAD", mine, headers=TUS)
    assert int(head.headers["upload-offset"]) == TARGET_SENT
