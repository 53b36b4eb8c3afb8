"""The origin over the ASGI app: tokens, ranges, conditional requests, content types, paths.

Every test runs twice (see ``conftest.py``): on the local store, where files leave through
Starlette's ``FileResponse``, and on the memory store, where they are streamed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote

import httpx2
import pytest
from fastapi.testclient import TestClient

from reelstream.delivery.media import IMMUTABLE, MANIFEST_CACHE
from reelstream.ids import new_id, new_rev
from reelstream.services import Services
from reelstream.storage.errors import StorageError
from reelstream.storage.keys import rev_prefix
from reelstream.storage.local import LocalBlobStore
from reelstream.storage.memory import MemoryBlobStore

SEGMENT = bytes((i * 7 + i // 251) % 256 for i in range(300_000))  # several read chunks
SECRET = b"TOP-SECRET-do-not-serve"


@dataclass
class Origin:
    client: TestClient
    services: Services
    video_id: str
    rev: str
    token: str

    def put(self, path: str, data: bytes) -> None:
        assert self.client.portal is not None
        key = f"{rev_prefix(self.video_id, self.rev)}/{path}"
        self.client.portal.call(self.services.store.put_bytes, key, data)

    def url(self, path: str, token: str | None = None) -> str:
        return f"/media/{self.video_id}/{self.rev}/{token or self.token}/{path}"

    def get(self, path: str, **headers: str) -> httpx2.Response:
        """GET with request headers given as keywords: ``if_none_match=`` is If-None-Match."""
        sent = {name.replace("_", "-"): value for name, value in headers.items()}
        return self.client.get(self.url(path), headers=sent)


@pytest.fixture
def origin(client: TestClient) -> Origin:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    vid = new_id()
    o = Origin(client, services, vid, new_rev(), services.signer.sign(vid, int(time.time()) + 600))
    o.put("v360/seg_00001.m4s", SEGMENT)
    o.put("master.m3u8", b"#EXTM3U\nv360/index.m3u8\n")
    return o


def assert_json_error(r: httpx2.Response, status: int, code: str | None = None) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["message"]
    if code is not None:
        assert err["code"] == code
    assert r.headers["access-control-allow-origin"] == "*"
    message: str = err["message"]
    return message


def test_the_backend_is_the_one_asked_for(origin: Origin) -> None:
    store = origin.services.store
    if origin.services.settings.storage_backend == "local":
        assert isinstance(store, LocalBlobStore)
        assert store.local_path(f"{rev_prefix(origin.video_id, origin.rev)}/master.m3u8")
    else:
        assert isinstance(store, MemoryBlobStore)
        assert store.local_path("videos/x/source") is None


# -- whole files and headers


def test_full_get(origin: Origin) -> None:
    r = origin.get("v360/seg_00001.m4s")
    assert r.status_code == 200
    assert r.content == SEGMENT
    assert r.headers["content-length"] == str(len(SEGMENT))
    assert r.headers["content-type"] == "video/iso.segment"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["cache-control"] == IMMUTABLE
    assert r.headers["access-control-allow-origin"] == "*"
    assert "Content-Range" in r.headers["access-control-expose-headers"]
    etag = r.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
    assert r.headers["last-modified"].endswith("GMT")
    assert origin.get("v360/seg_00001.m4s").headers["etag"] == etag, "the ETag is stable"


def test_etag_changes_when_the_file_changes(origin: Origin) -> None:
    before = origin.get("master.m3u8").headers["etag"]
    origin.put("master.m3u8", b"#EXTM3U\n# another version\n")
    after = origin.get("master.m3u8")
    assert after.content == b"#EXTM3U\n# another version\n"
    assert after.headers["etag"] != before


@pytest.mark.parametrize(
    ("path", "content_type", "cache"),
    [
        ("master.m3u8", "application/vnd.apple.mpegurl", MANIFEST_CACHE),
        ("v360/index.m3u8", "application/vnd.apple.mpegurl", MANIFEST_CACHE),
        ("manifest.mpd", "application/dash+xml", MANIFEST_CACHE),
        ("v360/init.mp4", "video/mp4", IMMUTABLE),
        ("v360/seg_00002.m4s", "video/iso.segment", IMMUTABLE),
        ("poster.jpg", "image/jpeg", IMMUTABLE),
        ("subs/en.vtt", "text/vtt", IMMUTABLE),
        ("ts/seg_1.ts", "video/mp2t", IMMUTABLE),
        ("blob.bin", "application/octet-stream", IMMUTABLE),
        ("noextension", "application/octet-stream", IMMUTABLE),
    ],
)
def test_content_type_and_cache_policy(
    origin: Origin, path: str, content_type: str, cache: str
) -> None:
    origin.put(path, b"data")
    for r in (origin.get(path), origin.client.head(origin.url(path))):
        assert r.status_code == 200
        assert r.headers["content-type"].split(";")[0] == content_type
        assert r.headers["cache-control"] == cache


def test_playlists_are_cached_briefly_and_segments_forever() -> None:
    assert "immutable" in IMMUTABLE and "max-age=31536000" in IMMUTABLE
    assert "immutable" not in MANIFEST_CACHE and "max-age=10" in MANIFEST_CACHE


def test_empty_file(origin: Origin) -> None:
    origin.put("empty.vtt", b"")
    r = origin.get("empty.vtt")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == "0"
    r = origin.get("empty.vtt", range="bytes=0-")
    assert_json_error(r, 416, "range_not_satisfiable")
    assert r.headers["content-range"] == "bytes */0"


# -- ranges

SIZE = len(SEGMENT)


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),  # first bytes
        ("bytes=0-0", 0, 0),
        ("bytes=1000-", 1000, SIZE - 1),  # open-ended
        ("bytes=0-", 0, SIZE - 1),  # the whole file, as a range
        ("bytes=-500", SIZE - 500, SIZE - 1),  # suffix
        ("bytes=-999999", 0, SIZE - 1),  # suffix longer than the file
        (f"bytes={SIZE - 10}-{SIZE + 5000}", SIZE - 10, SIZE - 1),  # end clamped
        ("bytes=70000-200000", 70000, 200000),  # spans several read chunks
        ("BYTES = 5 - 9", 5, 9),
    ],
)
def test_single_range(origin: Origin, header: str, start: int, end: int) -> None:
    r = origin.get("v360/seg_00001.m4s", range=header)
    assert r.status_code == 206, r.text
    assert r.content == SEGMENT[start : end + 1]
    assert r.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert r.headers["content-length"] == str(end - start + 1)
    assert r.headers["content-type"] == "video/iso.segment"
    assert r.headers["etag"] == origin.get("v360/seg_00001.m4s").headers["etag"]
    assert r.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "header", [f"bytes={SIZE}-", f"bytes={SIZE + 100}-{SIZE + 200}", "bytes=-0"]
)
def test_unsatisfiable_range_is_416(origin: Origin, header: str) -> None:
    r = origin.get("v360/seg_00001.m4s", range=header)
    assert_json_error(r, 416, "range_not_satisfiable")
    assert r.headers["content-range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize(
    "header",
    [
        "bytes=abc",
        "bytes=9-5",
        "items=0-5",
        "bytes",
        "bytes=",
        "bytes=--5",
        "bytes=1-2-3",
        "bytes=-",
    ],
)
def test_malformed_range_is_ignored(origin: Origin, header: str) -> None:
    r = origin.get("v360/seg_00001.m4s", range=header)
    assert r.status_code == 200
    assert r.content == SEGMENT
    assert "content-range" not in r.headers


def test_multiple_ranges_get_the_whole_file(origin: Origin) -> None:
    r = origin.get("v360/seg_00001.m4s", range="bytes=0-1,5-9")
    assert r.status_code == 200
    assert r.content == SEGMENT


def test_if_range(origin: Origin) -> None:
    full = origin.get("v360/seg_00001.m4s")
    etag, modified = full.headers["etag"], full.headers["last-modified"]

    r = origin.get("v360/seg_00001.m4s", range="bytes=10-19", if_range=etag)
    assert r.status_code == 206
    assert r.content == SEGMENT[10:20]
    r = origin.get("v360/seg_00001.m4s", range="bytes=10-19", if_range=modified)
    assert r.status_code == 206

    for stale in ('"0123456789abcdef"', f"W/{etag}", "Thu, 01 Jan 1970 00:00:00 GMT"):
        r = origin.get("v360/seg_00001.m4s", range="bytes=10-19", if_range=stale)
        assert r.status_code == 200, stale
        assert r.content == SEGMENT


# -- conditional requests


def test_if_none_match_gives_304(origin: Origin) -> None:
    full = origin.get("v360/seg_00001.m4s")
    etag = full.headers["etag"]
    for header in (etag, f"W/{etag}", "*", f'"nope", {etag}'):
        r = origin.get("v360/seg_00001.m4s", if_none_match=header)
        assert r.status_code == 304, header
        assert r.content == b""
        assert r.headers["etag"] == etag
        assert r.headers["cache-control"] == IMMUTABLE
        assert r.headers["last-modified"] == full.headers["last-modified"]
    r = origin.client.head(origin.url("v360/seg_00001.m4s"), headers={"if-none-match": etag})
    assert r.status_code == 304
    r = origin.get("v360/seg_00001.m4s", if_none_match='"something-else"')
    assert r.status_code == 200
    assert r.content == SEGMENT


def test_if_none_match_wins_over_range(origin: Origin) -> None:
    etag = origin.get("v360/seg_00001.m4s").headers["etag"]
    r = origin.get("v360/seg_00001.m4s", if_none_match=etag, range="bytes=0-9")
    assert r.status_code == 304


def test_if_modified_since(origin: Origin) -> None:
    modified = origin.get("master.m3u8").headers["last-modified"]
    assert origin.get("master.m3u8", if_modified_since=modified).status_code == 304
    past = formatdate(time.time() - 86400 * 365, usegmt=True)
    assert origin.get("master.m3u8", if_modified_since=past).status_code == 200
    assert origin.get("master.m3u8", if_modified_since="yesterday-ish").status_code == 200


# -- HEAD


def test_head_has_the_get_headers_and_no_body(origin: Origin) -> None:
    get = origin.get("v360/seg_00001.m4s")
    head = origin.client.head(origin.url("v360/seg_00001.m4s"))
    assert head.status_code == 200
    assert head.content == b""
    for name in (
        "content-length",
        "content-type",
        "etag",
        "last-modified",
        "cache-control",
        "accept-ranges",
        "access-control-allow-origin",
    ):
        assert head.headers[name] == get.headers[name], name

    ranged = origin.client.head(origin.url("v360/seg_00001.m4s"), headers={"range": "bytes=5-9"})
    assert ranged.status_code == 206
    assert ranged.content == b""
    assert ranged.headers["content-range"] == f"bytes 5-9/{SIZE}"
    assert ranged.headers["content-length"] == "5"


# -- tokens


def test_tokens_are_required_and_checked(origin: Origin) -> None:
    signer = origin.services.signer
    vid = origin.video_id
    now = int(time.time())
    good = origin.token
    forged = good[:-1] + ("A" if good[-1] != "A" else "B")
    cases = {
        "forged": (forged, "token_invalid"),
        "expired": (signer.sign(vid, now - 5), "token_expired"),
        "other video": (signer.sign(new_id(), now + 600), "token_invalid"),
        "malformed": ("not-a-token", "token_malformed"),
        "unknown key": ("zz" + good[2:], "token_invalid"),
    }
    for label, (token, code) in cases.items():
        r = origin.client.get(origin.url("master.m3u8", token=token))
        message = assert_json_error(r, 403, code)
        assert message, label
        assert r.headers["cache-control"] == "no-store"
        assert b"EXTM3U" not in r.content

    # no token segment at all: /media/{vid}/{rev}/master.m3u8
    r = origin.client.get(f"/media/{vid}/{origin.rev}/master.m3u8")
    assert_json_error(r, 403, "token_missing")
    # a token of another video does not open this video even for a valid path
    assert origin.get("master.m3u8").status_code == 200


def test_unknown_files_and_revs_are_404(origin: Origin) -> None:
    assert_json_error(origin.get("v360/seg_99999.m4s"), 404)
    assert_json_error(origin.get("v360"), 404)  # a folder is not a file
    other_rev = f"/media/{origin.video_id}/{new_rev()}/{origin.token}/master.m3u8"
    assert_json_error(origin.client.get(other_rev), 404)
    assert_json_error(origin.client.get(f"/media/{origin.video_id}"), 404)


def test_preflight(origin: Origin) -> None:
    r = origin.client.options(
        origin.url("v360/seg_00001.m4s"),
        headers={
            "origin": "https://player.example",
            "access-control-request-method": "GET",
            "access-control-request-headers": "range",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "GET" in r.headers["access-control-allow-methods"]
    assert "Range" in r.headers["access-control-allow-headers"]


# -- paths


def _traversals(secret: Path) -> list[str]:
    up5 = "../" * 5
    abs_path = quote(str(secret), safe="")
    return [
        quote(up5, safe="") + "secret.txt",  # ..%2F..%2F...
        "%2e%2e/" * 5 + "secret.txt",
        "%2E%2E%2F" * 6 + "secret.txt",
        "v360/" + "%2e%2e/" * 6 + "secret.txt",
        "..%5C" * 5 + "secret.txt",  # backslashes
        "..\\..\\..\\..\\..\\secret.txt",
        f"%2F{abs_path}",  # absolute
        f"/{secret}",  # absolute, via an empty part
        "%252e%252e/" * 5 + "secret.txt",  # double-encoded
        ".%2e/" * 5 + "secret.txt",
        "secret.txt%00.m3u8",
        "..",
        ".",
        "v360/.",
    ]


def test_paths_cannot_escape_the_storage_root(origin: Origin, tmp_path: Path) -> None:
    settings = origin.services.settings
    rev_dir = settings.resolved_storage_root / rev_prefix(origin.video_id, origin.rev)
    target = (rev_dir / ("../" * 5) / "secret.txt").resolve()
    assert target == settings.data_dir.resolve() / "secret.txt", "the traversal aims at a file"
    target.write_bytes(SECRET)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    settings.resolved_storage_root.mkdir(parents=True, exist_ok=True)
    (settings.resolved_storage_root / "secret.txt").write_bytes(SECRET)

    vid, rev, tok = origin.video_id, origin.rev, origin.token
    urls = [f"/media/{vid}/{rev}/{tok}/{p}" for p in _traversals(target)]
    urls += [
        f"/media/{vid}/%2e%2e/{tok}/secret.txt",
        f"/media/{vid}/..%2F..%2F..%2F..%2F/{tok}/secret.txt",
        f"/media/%2e%2e/{rev}/{tok}/secret.txt",
        f"/media/..%2F..%2F..%2F..%2F..%2F..%2Fsecret.txt/{rev}/{tok}/x",
        f"/media/{vid}/{rev}/%2e%2e/secret.txt",
        f"/media/{vid}/{rev}/{tok}/../../../../../secret.txt",  # httpx normalises this one
    ]
    for url in urls:
        for method in ("GET", "HEAD"):
            r = origin.client.request(method, url)
            assert r.status_code in (403, 404), (url, r.status_code)
            assert SECRET not in r.content, url
            if method == "GET":
                assert r.json()["error"]["code"], url


def test_hidden_and_temporary_files_are_not_served(origin: Origin) -> None:
    origin.put("v360/seg_00003.m4s", b"ok")
    if origin.services.settings.storage_backend == "local":
        rev_dir = origin.services.settings.resolved_storage_root / rev_prefix(
            origin.video_id, origin.rev
        )
        (rev_dir / ".master.m3u8.tmp123").write_bytes(SECRET)
    r = origin.get(".master.m3u8.tmp123")
    assert_json_error(r, 404)
    assert SECRET not in r.content


def test_deep_paths_are_refused(origin: Origin) -> None:
    origin.put("a/b/c/d.m4s", b"depth four")
    assert origin.get("a/b/c/d.m4s").status_code == 200
    origin.put("a/b/c/d/e.m4s", b"depth five")
    assert_json_error(origin.get("a/b/c/d/e.m4s"), 404)


# -- error bodies name no storage key


@pytest.mark.parametrize(
    "path", ["nothing.m3u8", "v360/seg_09999.m4s", "v9999/index.m3u8", "a/b/c/d.m4s"]
)
def test_a_missing_file_is_a_generic_404(origin: Origin, path: str) -> None:
    for url in (origin.url(path), f"/media/{origin.video_id}/{new_rev()}/{origin.token}/{path}"):
        r = origin.client.get(url)
        assert assert_json_error(r, 404, "not_found") == "not found"
        for internal in ("videos/", "/r/", origin.rev, "blob", path):
            assert internal not in r.text, (internal, r.text)
        assert origin.client.head(url).status_code == 404


def test_a_storage_failure_is_a_generic_503(
    origin: Origin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(key: str) -> None:
        raise StorageError(f"s3 at http://10.9.8.7:8080 refused {key!r} for bucket secret-bucket")

    monkeypatch.setattr(origin.services.store, "stat", broken)
    r = origin.get("master.m3u8")
    message = assert_json_error(r, 503, "storage_error")
    assert message == "the storage is unavailable; try again shortly"
    assert r.headers["retry-after"] == "1"  # clients back off and retry; never a bare 503
    for internal in ("10.9.8.7", "secret-bucket", "videos/", origin.rev):
        assert internal not in r.text
    assert "secret-bucket" in caplog.text  # the operator still sees the reason
