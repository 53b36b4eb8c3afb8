"""The tus endpoints in-process (TestClient): protocol, errors, durability rules, hand-off."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from collections.abc import Awaitable, Callable, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from reelstream.db.models import Job, Upload, Video
from reelstream.services import Services
from tests.ingest.helpers import (
    OCTETS,
    TUS,
    b64,
    checksum,
    metadata,
    patch_headers,
    sha256,
)

T = TypeVar("T")
DATA = os.urandom(300_000)


def services_of(client: TestClient) -> Services:
    svc: Services = client.app.state.services  # type: ignore[attr-defined]
    return svc


def run(client: TestClient, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run a coroutine on the app's own event loop (where its database engine lives)."""
    assert client.portal is not None
    return client.portal.call(fn, *args)


def create(client: TestClient, length: int = len(DATA), **meta: str) -> tuple[str, str]:
    r = client.post(
        "/api/v1/uploads",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(**(meta or {"filename": "clip.mp4"})),
        },
    )
    assert r.status_code == 201, r.text
    return r.headers["Location"], r.headers["Video-Id"]


def head(client: TestClient, url: str) -> Any:
    return client.head(url, headers=TUS)


def staging_path(client: TestClient, url: str) -> Path:
    return services_of(client).settings.resolved_upload_dir / url.rsplit("/", 1)[1]


def source_path(client: TestClient, video_id: str) -> Path:
    return services_of(client).settings.resolved_storage_root / "videos" / video_id / "source"


def get_video(client: TestClient, video_id: str) -> Video | None:
    async def q() -> Video | None:
        async with services_of(client).db.read() as s:
            return (await s.execute(select(Video).where(Video.id == video_id))).scalar_one_or_none()

    return run(client, q)


def get_jobs(client: TestClient, video_id: str) -> list[Job]:
    async def q() -> list[Job]:
        async with services_of(client).db.read() as s:
            return list((await s.execute(select(Job).where(Job.video_id == video_id))).scalars())

    return run(client, q)


def get_upload(client: TestClient, url: str) -> Upload | None:
    uid = url.rsplit("/", 1)[1]

    async def q() -> Upload | None:
        async with services_of(client).db.read() as s:
            return (await s.execute(select(Upload).where(Upload.id == uid))).scalar_one_or_none()

    return run(client, q)


def assert_error(r: Any, status: int, code: str) -> dict[str, str]:
    assert r.status_code == status, r.text
    assert r.headers["Tus-Resumable"] == "1.0.0"
    err: dict[str, str] = r.json()["error"]
    assert err["code"] == code
    assert err["message"]
    return err


def assert_completed(client: TestClient, video_id: str, data: bytes) -> None:
    video = get_video(client, video_id)
    assert video is not None
    assert video.status == "queued"
    assert video.source_key == f"videos/{video_id}/source"
    assert video.source_bytes == len(data)
    jobs = get_jobs(client, video_id)
    assert [j.state for j in jobs] == ["queued"]
    assert sha256(source_path(client, video_id).read_bytes()) == sha256(data)


# -- discovery and creation


def test_options_advertises_the_server(client: TestClient) -> None:
    r = client.options("/api/v1/uploads")
    assert r.status_code == 204
    assert r.headers["Tus-Resumable"] == "1.0.0"
    assert r.headers["Tus-Version"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
    }
    assert int(r.headers["Tus-Max-Size"]) == services_of(client).settings.max_upload_bytes
    assert {"sha1", "md5", "sha256"} <= set(r.headers["Tus-Checksum-Algorithm"].split(","))


def test_create_makes_a_video_and_an_upload(client: TestClient) -> None:
    before = dt.datetime.now(dt.UTC)
    r = client.post(
        "/api/v1/uploads",
        headers={
            **TUS,
            "Upload-Length": "1234",
            "Upload-Metadata": metadata(filename="Summer Trip.mov", visibility="unlisted"),
        },
    )
    assert r.status_code == 201, r.text
    assert r.headers["Tus-Resumable"] == "1.0.0"
    url, video_id = r.headers["Location"], r.headers["Video-Id"]
    assert url.startswith("/api/v1/uploads/")
    assert r.headers["Upload-Offset"] == "0"
    expires = parsedate_to_datetime(r.headers["Upload-Expires"])
    expiry = services_of(client).settings.upload_expiry_s
    assert abs((expires - before).total_seconds() - expiry) < 60

    video = get_video(client, video_id)
    assert video is not None
    assert (video.status, video.title, video.filename, video.visibility) == (
        "uploading",
        "Summer Trip",
        "Summer Trip.mov",
        "unlisted",
    )
    upload = get_upload(client, url)
    assert upload is not None
    assert (upload.video_id, upload.length, upload.offset) == (video_id, 1234, 0)
    assert staging_path(client, url).is_file()

    h = head(client, url)
    assert h.status_code == 200
    assert h.headers["Upload-Offset"] == "0"
    assert h.headers["Upload-Length"] == "1234"
    assert h.headers["Cache-Control"] == "no-store"
    assert h.headers["Upload-Metadata"] == metadata(
        filename="Summer Trip.mov", visibility="unlisted"
    )
    assert parsedate_to_datetime(h.headers["Upload-Expires"]) == expires


def test_title_from_metadata(client: TestClient) -> None:
    _, vid = create(client, 10, filename="a.mp4", title="My talk")
    video = get_video(client, vid)
    assert video is not None
    assert (video.title, video.visibility) == ("My talk", "public")


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        (None, "filename"),
        (metadata(title="no file name"), "filename"),
        (metadata(filename="a.mp4", visibility="friends"), "visibility"),
        ("filename %%%", "base64"),
        (f"filename {b64('a.mp4')} extra", "malformed"),
    ],
)
def test_bad_metadata_is_400(client: TestClient, meta: str | None, reason: str) -> None:
    headers = {**TUS, "Upload-Length": "10"}
    if meta is not None:
        headers["Upload-Metadata"] = meta
    r = client.post("/api/v1/uploads", headers=headers)
    err = assert_error(r, 400, "bad_tus_request")
    assert reason in err["message"]


@pytest.mark.parametrize("version", [None, "0.2.2"])
def test_missing_or_bad_tus_resumable_is_412(client: TestClient, version: str | None) -> None:
    url, _ = create(client, 10)
    headers = {} if version is None else {"Tus-Resumable": version}
    for r in (
        client.post(
            "/api/v1/uploads",
            headers={**headers, "Upload-Length": "10", "Upload-Metadata": metadata(filename="a")},
        ),
        client.head(url, headers=headers),
        client.patch(
            url, content=b"x", headers={**headers, "Content-Type": OCTETS, "Upload-Offset": "0"}
        ),
        client.delete(url, headers=headers),
    ):
        assert r.status_code == 412
        assert r.headers["Tus-Version"] == "1.0.0"
        assert r.headers["Tus-Resumable"] == "1.0.0"
        if r.request.method != "HEAD":
            assert r.json()["error"]["code"] == "unsupported_tus_version"


@pytest.mark.parametrize("length", [None, "", "-1", "ten", "0"])
def test_bad_upload_length_is_400(client: TestClient, length: str | None) -> None:
    headers = {**TUS, "Upload-Metadata": metadata(filename="a.mp4")}
    if length is not None:
        headers["Upload-Length"] = length
    assert_error(client.post("/api/v1/uploads", headers=headers), 400, "bad_tus_request")


def test_defer_length_is_not_offered(client: TestClient) -> None:
    r = client.post(
        "/api/v1/uploads",
        headers={**TUS, "Upload-Defer-Length": "1", "Upload-Metadata": metadata(filename="a")},
    )
    assert "Defer" in assert_error(r, 400, "bad_tus_request")["message"]


def test_length_over_the_maximum_is_413(client: TestClient) -> None:
    services_of(client).settings.max_upload_bytes = 1000
    ok = client.post(
        "/api/v1/uploads",
        headers={**TUS, "Upload-Length": "1000", "Upload-Metadata": metadata(filename="a")},
    )
    assert ok.status_code == 201
    r = client.post(
        "/api/v1/uploads",
        headers={**TUS, "Upload-Length": "1001", "Upload-Metadata": metadata(filename="a")},
    )
    assert_error(r, 413, "upload_too_large")
    assert client.options("/api/v1/uploads").headers["Tus-Max-Size"] == "1000"


# -- PATCH


def test_chunked_upload_completes_and_queues_the_video(client: TestClient) -> None:
    url, vid = create(client)
    offset = 0
    for size in (100_000, 150_000, 50_000):
        r = client.patch(url, content=DATA[offset : offset + size], headers=patch_headers(offset))
        assert r.status_code == 204, r.text
        assert r.headers["Tus-Resumable"] == "1.0.0"
        offset += size
        assert int(r.headers["Upload-Offset"]) == offset
        if offset < len(DATA):
            assert head(client, url).headers["Upload-Offset"] == str(offset)
            assert get_video(client, vid).status == "uploading"  # type: ignore[union-attr]
    assert "Upload-Expires" not in r.headers
    assert_completed(client, vid, DATA)
    assert not staging_path(client, url).exists()

    h = head(client, url)
    assert h.status_code == 200
    assert h.headers["Upload-Offset"] == h.headers["Upload-Length"] == str(len(DATA))

    upload = get_upload(client, url)
    assert upload is not None
    assert upload.completed_at is not None
    # A repeat of the final PATCH (lost response) is harmless; more bytes are refused.
    again = client.patch(url, content=b"", headers=patch_headers(len(DATA)))
    assert again.status_code == 204
    assert again.headers["Upload-Offset"] == str(len(DATA))
    assert_error(client.patch(url, content=b"x", headers=patch_headers(0)), 409, "upload_finished")
    assert [j.state for j in get_jobs(client, vid)] == ["queued"]

    metrics = client.get("/metrics").text
    assert "reelstream_uploads_created_total 1.0" in metrics
    assert "reelstream_uploads_completed_total 1.0" in metrics
    assert f"reelstream_upload_bytes_total {float(len(DATA))}" in metrics


def test_wrong_offset_is_409_and_changes_nothing(client: TestClient) -> None:
    url, _ = create(client)
    assert client.patch(url, content=DATA[:1000], headers=patch_headers(0)).status_code == 204
    for wrong in (0, 999, 1001, 5000):
        r = client.patch(url, content=DATA[wrong : wrong + 10], headers=patch_headers(wrong))
        assert_error(r, 409, "offset_mismatch")
    assert head(client, url).headers["Upload-Offset"] == "1000"
    assert staging_path(client, url).read_bytes() == DATA[:1000]
    assert_error(
        client.patch(url, content=b"x", headers={**TUS, "Content-Type": OCTETS}),
        400,
        "bad_tus_request",
    )


def test_patch_needs_offset_octet_stream(client: TestClient) -> None:
    url, _ = create(client)
    for ctype in (None, "application/octet-stream", "text/plain"):
        headers = {**TUS, "Upload-Offset": "0"}
        if ctype:
            headers["Content-Type"] = ctype
        assert_error(
            client.patch(url, content=b"abc", headers=headers), 415, "unsupported_media_type"
        )
    assert head(client, url).headers["Upload-Offset"] == "0"


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256"])
def test_checksum_ok(client: TestClient, algorithm: str) -> None:
    url, vid = create(client)
    half = len(DATA) // 2
    for start, end in ((0, half), (half, len(DATA))):
        chunk = DATA[start:end]
        r = client.patch(
            url,
            content=chunk,
            headers=patch_headers(start, **{"Upload-Checksum": checksum(algorithm, chunk)}),
        )
        assert r.status_code == 204, r.text
        assert r.headers["Upload-Offset"] == str(end)
    assert_completed(client, vid, DATA)


def test_checksum_mismatch_is_460_and_discards_the_chunk(client: TestClient) -> None:
    url, vid = create(client)
    first = DATA[:1000]
    good = client.patch(
        url, content=first, headers=patch_headers(0, **{"Upload-Checksum": checksum("sha1", first)})
    )
    assert good.status_code == 204
    chunk = DATA[1000:5000]
    r = client.patch(
        url,
        content=chunk,
        headers=patch_headers(1000, **{"Upload-Checksum": checksum("sha1", chunk + b"x")}),
    )
    assert_error(r, 460, "checksum_mismatch")
    assert head(client, url).headers["Upload-Offset"] == "1000"
    assert staging_path(client, url).read_bytes() == first
    assert not staging_path(client, url).with_name(url.rsplit("/", 1)[1] + ".chunk").exists()

    r = client.patch(
        url, content=chunk, headers=patch_headers(1000, **{"Upload-Checksum": "crc32 AAAAAA=="})
    )
    assert_error(r, 400, "unsupported_checksum")
    r = client.patch(url, content=chunk, headers=patch_headers(1000, **{"Upload-Checksum": "md5"}))
    assert_error(r, 400, "bad_tus_request")
    assert head(client, url).headers["Upload-Offset"] == "1000"
    # The client resends the chunk correctly and finishes.
    rest = DATA[1000:]
    r = client.patch(
        url, content=rest, headers=patch_headers(1000, **{"Upload-Checksum": checksum("md5", rest)})
    )
    assert r.status_code == 204
    assert_completed(client, vid, DATA)


def test_writing_past_the_length_is_413_and_writes_nothing(client: TestClient) -> None:
    url, _ = create(client, 1000)
    assert client.patch(url, content=DATA[:600], headers=patch_headers(0)).status_code == 204
    r = client.patch(url, content=DATA[600:1001], headers=patch_headers(600))
    assert_error(r, 413, "upload_too_large")
    assert staging_path(client, url).read_bytes() == DATA[:600]

    def chunked() -> Iterator[bytes]:  # no Content-Length: caught while streaming
        for i in range(5):
            yield DATA[600 + i * 100 : 700 + i * 100]

    r = client.patch(url, content=chunked(), headers=patch_headers(600))
    assert_error(r, 413, "upload_too_large")
    assert head(client, url).headers["Upload-Offset"] == "600"
    assert staging_path(client, url).read_bytes() == DATA[:600]


def test_chunked_transfer_body_is_accepted(client: TestClient) -> None:
    url, vid = create(client)

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(DATA), 7000):
            yield DATA[i : i + 7000]

    r = client.patch(url, content=pieces(), headers=patch_headers(0))
    assert r.status_code == 204, r.text
    assert_completed(client, vid, DATA)


def test_unacknowledged_bytes_are_discarded(client: TestClient) -> None:
    url, vid = create(client)
    assert client.patch(url, content=DATA[:5000], headers=patch_headers(0)).status_code == 204
    # A crashed write left bytes past the durable offset: they must not survive.
    with staging_path(client, url).open("ab") as fh:
        fh.write(b"garbage that was never acknowledged")
    assert head(client, url).headers["Upload-Offset"] == "5000"
    assert client.patch(url, content=DATA[5000:], headers=patch_headers(5000)).status_code == 204
    assert_completed(client, vid, DATA)


def test_concurrent_writer_gets_423(client: TestClient) -> None:
    url, _ = create(client)
    fd = os.open(staging_path(client, url), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process writing
        r = client.patch(url, content=DATA[:10], headers=patch_headers(0))
        assert_error(r, 423, "upload_locked")
        assert_error(client.delete(url, headers=TUS), 423, "upload_locked")
    finally:
        os.close(fd)
    assert client.patch(url, content=DATA[:10], headers=patch_headers(0)).status_code == 204


def test_unknown_upload_is_404(client: TestClient) -> None:
    # A path that does not even match the route is a plain 404.
    assert (
        client.patch("/api/v1/uploads/..%2F..%2Fetc", headers=patch_headers(0)).status_code == 404
    )
    for uid in ("AAAAAAAAAAAAAAAA", "not-an-id", "..etc"):
        url = f"/api/v1/uploads/{uid}"
        assert head(client, url).status_code == 404
        assert_error(
            client.patch(url, content=b"x", headers=patch_headers(0)), 404, "upload_not_found"
        )
        assert_error(client.delete(url, headers=TUS), 404, "upload_not_found")


def test_expired_upload_is_410(client: TestClient) -> None:
    url, vid = create(client)
    assert client.patch(url, content=DATA[:100], headers=patch_headers(0)).status_code == 204

    async def expire() -> None:
        async with services_of(client).db.transaction() as s:
            past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            await s.execute(update(Upload).values(expires_at=past))

    run(client, expire)
    assert head(client, url).status_code == 410
    r = client.patch(url, content=DATA[100:200], headers=patch_headers(100))
    assert_error(r, 410, "upload_expired")
    assert staging_path(client, url).read_bytes() == DATA[:100]
    # Termination still cleans an expired upload up.
    assert client.delete(url, headers=TUS).status_code == 204
    assert get_video(client, vid) is None


def test_each_patch_extends_the_expiry(client: TestClient) -> None:
    url, _ = create(client)
    first = parsedate_to_datetime(head(client, url).headers["Upload-Expires"])

    async def shorten() -> None:
        async with services_of(client).db.transaction() as s:
            soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
            await s.execute(update(Upload).values(expires_at=soon))

    run(client, shorten)
    r = client.patch(url, content=DATA[:10], headers=patch_headers(0))
    assert abs((parsedate_to_datetime(r.headers["Upload-Expires"]) - first).total_seconds()) < 60


# -- creation-with-upload


def test_creation_with_upload_whole_file(client: TestClient) -> None:
    r = client.post(
        "/api/v1/uploads",
        content=DATA,
        headers={
            **TUS,
            "Upload-Length": str(len(DATA)),
            "Upload-Metadata": metadata(filename="one-shot.mp4"),
            "Content-Type": OCTETS,
            "Upload-Checksum": checksum("sha256", DATA),
        },
    )
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == str(len(DATA))
    assert_completed(client, r.headers["Video-Id"], DATA)


def test_creation_with_upload_partial_then_patch(client: TestClient) -> None:
    r = client.post(
        "/api/v1/uploads",
        content=DATA[:123_456],
        headers={
            **TUS,
            "Upload-Length": str(len(DATA)),
            "Upload-Metadata": metadata(filename="two-part.mp4"),
            "Content-Type": OCTETS,
        },
    )
    assert r.status_code == 201, r.text
    assert r.headers["Upload-Offset"] == "123456"
    assert "Upload-Expires" in r.headers
    url, vid = r.headers["Location"], r.headers["Video-Id"]
    r = client.patch(url, content=DATA[123_456:], headers=patch_headers(123_456))
    assert r.status_code == 204
    assert_completed(client, vid, DATA)


def test_creation_with_upload_bad_checksum_keeps_the_upload(client: TestClient) -> None:
    r = client.post(
        "/api/v1/uploads",
        content=DATA[:1000],
        headers={
            **TUS,
            "Upload-Length": str(len(DATA)),
            "Upload-Metadata": metadata(filename="a.mp4"),
            "Content-Type": OCTETS,
            "Upload-Checksum": checksum("sha1", b"something else"),
        },
    )
    assert r.status_code == 201
    assert r.headers["Upload-Offset"] == "0"
    assert staging_path(client, r.headers["Location"]).read_bytes() == b""


def test_creation_with_a_body_too_large_or_mistyped(client: TestClient) -> None:
    headers = {**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(filename="a.mp4")}
    r = client.post(
        "/api/v1/uploads", content=b"x" * 11, headers={**headers, "Content-Type": OCTETS}
    )
    assert_error(r, 413, "upload_too_large")
    r = client.post(
        "/api/v1/uploads", content=b"x" * 5, headers={**headers, "Content-Type": "text/plain"}
    )
    assert_error(r, 415, "unsupported_media_type")

    async def count() -> int:
        async with services_of(client).db.read() as s:
            return len(list((await s.execute(select(Video))).scalars()))

    assert run(client, count) == 0


# -- termination


def test_delete_removes_upload_staging_and_video(client: TestClient) -> None:
    url, vid = create(client)
    assert client.patch(url, content=DATA[:100], headers=patch_headers(0)).status_code == 204
    r = client.delete(url, headers=TUS)
    assert r.status_code == 204
    assert r.headers["Tus-Resumable"] == "1.0.0"
    assert not staging_path(client, url).exists()
    assert get_upload(client, url) is None
    assert get_video(client, vid) is None
    assert head(client, url).status_code == 404
    assert_error(client.delete(url, headers=TUS), 404, "upload_not_found")


def test_delete_of_a_completed_upload_is_409(client: TestClient) -> None:
    url, vid = create(client)
    assert client.patch(url, content=DATA, headers=patch_headers(0)).status_code == 204
    err = assert_error(client.delete(url, headers=TUS), 409, "upload_finished")
    assert vid in err["message"]
    assert_completed(client, vid, DATA)


# -- crash safety of the completion


def test_crash_after_the_move_is_finished_by_head(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, vid = create(client)
    queue = services_of(client).queue
    real = queue.enqueue

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("process died before the commit")

    monkeypatch.setattr(queue, "enqueue", crash)
    with pytest.raises(RuntimeError, match="process died"):
        client.patch(url, content=DATA, headers=patch_headers(0))
    monkeypatch.setattr(queue, "enqueue", real)
    # The bytes were moved into the store but nothing was committed.
    assert not staging_path(client, url).exists()
    assert source_path(client, vid).is_file()
    assert get_video(client, vid).status == "uploading"  # type: ignore[union-attr]
    assert get_jobs(client, vid) == []

    h = head(client, url)
    assert h.status_code == 200
    assert h.headers["Upload-Offset"] == str(len(DATA))
    assert_completed(client, vid, DATA)
    assert head(client, url).status_code == 200
    assert len(get_jobs(client, vid)) == 1  # idempotent


def test_crash_before_the_move_is_finished_by_patch(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, vid = create(client)
    store = services_of(client).store
    real = store.put_file

    async def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("process died before the move")

    monkeypatch.setattr(store, "put_file", crash)
    with pytest.raises(RuntimeError, match="process died"):
        client.patch(url, content=DATA, headers=patch_headers(0))
    monkeypatch.setattr(store, "put_file", real)
    assert staging_path(client, url).read_bytes() == DATA
    assert get_video(client, vid).status == "uploading"  # type: ignore[union-attr]

    # The client never saw a response; it asks again with the offset it hoped for.
    r = client.patch(url, content=b"", headers=patch_headers(len(DATA)))
    assert r.status_code == 204
    assert r.headers["Upload-Offset"] == str(len(DATA))
    assert_completed(client, vid, DATA)


def test_openapi_lists_the_tus_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"options", "post"} <= set(paths["/api/v1/uploads"])
    assert {"head", "patch", "delete"} <= set(paths["/api/v1/uploads/{upload_id}"])


def test_creation_with_an_empty_octet_stream_body(client: TestClient) -> None:
    r = client.post(
        "/api/v1/uploads",
        content=b"",
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": metadata(filename="a.mp4"),
            "Content-Type": OCTETS,
        },
    )
    assert r.status_code == 201
    assert r.headers["Upload-Offset"] == "0"
