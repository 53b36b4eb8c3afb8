"""The video API: listing with cursors, read, edit, delete, playback URLs, error shape."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx2
import pytest
from fastapi.testclient import TestClient

from reelstream.db.models import Upload
from reelstream.ids import new_id
from reelstream.services import Services
from reelstream.storage.keys import video_prefix
from tests.videos.factories import MASTER, create_video, publish_fake, queue_video

T = TypeVar("T")


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def run(client: TestClient, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run an async function in the app's event loop."""
    assert client.portal is not None
    return client.portal.call(partial(fn, *args, **kwargs))


def assert_error(r: httpx2.Response, status: int, code: str | None = None) -> dict[str, str]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    err: dict[str, str] = body["error"]
    return err


def all_pages(client: TestClient, limit: int, **params: str) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query: dict[str, str | int] = {"limit": limit, **params}
        if cursor:
            query["cursor"] = cursor
        r = client.get("/api/v1/videos", params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        pages.append([v["id"] for v in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "pagination does not terminate"


# -- listing


def test_list_is_empty_on_a_fresh_install(client: TestClient) -> None:
    r = client.get("/api/v1/videos")
    assert r.status_code == 200
    assert r.json() == {"items": [], "next_cursor": None}


def test_cursor_pagination_has_no_duplicates_no_gaps_and_a_stable_order(
    client: TestClient,
) -> None:
    services = services_of(client)
    public = [watchable(client, f"v{i}") for i in range(7)]
    run(client, create_video, services, "not yet uploaded")  # not watchable: not listed
    run(client, create_video, services, "hidden", visibility="unlisted")
    run(client, create_video, services, "secret", visibility="private")

    one_page = all_pages(client, 100)
    assert len(one_page) == 1
    order = one_page[0]
    assert sorted(order) == sorted(public), "only public videos are listed"

    pages = all_pages(client, 3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [vid for page in pages for vid in page] == order

    r = client.get("/api/v1/videos", params={"limit": 100})
    created = [v["created_at"] for v in r.json()["items"]]
    assert created == sorted(created, reverse=True), "newest first"


def test_a_video_created_while_paging_causes_no_duplicate(client: TestClient) -> None:
    services = services_of(client)
    originals = [watchable(client, f"v{i}") for i in range(4)]
    first = client.get("/api/v1/videos", params={"limit": 2}).json()
    run(client, publish_fake, services, run(client, create_video, services, "newcomer"))
    rest = client.get("/api/v1/videos", params={"limit": 10, "cursor": first["next_cursor"]})
    seen = [v["id"] for v in first["items"]] + [v["id"] for v in rest.json()["items"]]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(originals)


def test_status_filter(client: TestClient) -> None:
    services = services_of(client)
    waiting = run(client, create_video, services, "a")
    run(client, create_video, services, "b")
    run(client, queue_video, services, waiting)
    r = client.get("/api/v1/videos", params={"status": "queued", "owner": "me"})
    assert [v["id"] for v in r.json()["items"]] == [waiting]
    public = client.get("/api/v1/videos", params={"status": "queued"})  # not watchable
    assert public.json()["items"] == []
    assert_error(client.get("/api/v1/videos", params={"status": "sleeping"}), 422)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'["2024-01-01T00:00:00", "AAAAAAAAAAAAAAAA"]').decode(),
        base64.urlsafe_b64encode(b'["2024-01-01T00:00:00+00:00", "../../etc"]').decode(),
    ],
)
def test_invalid_cursor_is_400(client: TestClient, cursor: str) -> None:
    assert_error(client.get("/api/v1/videos", params={"cursor": cursor}), 400, "invalid_cursor")


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5"])
def test_limit_out_of_bounds_is_a_json_4xx(client: TestClient, limit: str) -> None:
    assert_error(client.get("/api/v1/videos", params={"limit": limit}), 422, "invalid_request")


def test_limit_bounds_are_inclusive(client: TestClient) -> None:
    watchable(client, "x")
    for limit in (1, 100):
        r = client.get("/api/v1/videos", params={"limit": limit})
        assert r.status_code == 200
        assert len(r.json()["items"]) == 1


def watchable(client: TestClient, title: str) -> str:
    """A public video with a published rev: one the public listing shows."""
    services = services_of(client)
    vid: str = run(client, create_video, services, title)
    run(client, publish_fake, services, vid)
    return vid


# -- one video


def test_get_a_fresh_video(client: TestClient) -> None:
    vid = run(client, create_video, services_of(client), "First", visibility="unlisted")
    r = client.get(f"/api/v1/videos/{vid}")
    assert r.status_code == 200
    v = r.json()
    assert v["id"] == vid
    assert v["title"] == "First"
    assert v["visibility"] == "unlisted"
    assert v["status"] == "uploading"
    assert v["playable"] is False
    assert v["renditions"] == []
    assert v["job"] is None
    assert v["progress"] == 0.0
    assert v["poster_url"] is None
    assert v["error"] is None
    assert dt.datetime.fromisoformat(v["created_at"]).tzinfo is not None


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/videos/AAAAAAAAAAAAAAAA",
        "/api/v1/videos/short",
        "/api/v1/videos/..%2F..%2Fetc",
        "/api/v1/videos/%2e%2e",
        "/api/v1/videos/../../etc",
        "/api/v1/videos/AAAAAAAAAAAAAAAA/playback",
        "/api/v1/videos/..%2F..%2Fetc/playback",
    ],
)
def test_unknown_or_malformed_id_is_404(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404)


def test_progress_and_job_follow_the_newest_job(client: TestClient) -> None:
    services = services_of(client)
    vid = run(client, create_video, services, "p")
    run(client, queue_video, services, vid)
    v = client.get(f"/api/v1/videos/{vid}").json()
    assert v["status"] == "queued"
    assert v["job"]["state"] == "queued"
    assert v["job"]["attempts"] == 0
    assert v["progress"] == 0.0

    async def claim_and_report() -> None:
        async with services.db.transaction() as s:
            lease = await services.queue.claim(s, "test-worker")
        assert lease is not None and lease.video_id == vid
        assert await services.queue.heartbeat(lease, 0.5)

    run(client, claim_and_report)
    v = client.get(f"/api/v1/videos/{vid}").json()
    assert v["job"]["state"] == "running"
    assert v["job"]["attempts"] == 1
    assert v["progress"] == 0.5
    listed = client.get("/api/v1/videos?owner=me").json()["items"]
    assert listed[0]["progress"] == 0.5


# -- PATCH


def test_patch_title_and_visibility(client: TestClient) -> None:
    vid = run(client, create_video, services_of(client), "old")
    r = client.patch(f"/api/v1/videos/{vid}", json={"title": "New title"})
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "New title"
    assert r.json()["visibility"] == "public"

    r = client.patch(f"/api/v1/videos/{vid}", json={"visibility": "private"})
    assert r.status_code == 200
    assert r.json()["visibility"] == "private"
    assert r.json()["title"] == "New title"
    assert client.get(f"/api/v1/videos/{vid}").json()["visibility"] == "private"
    assert client.get("/api/v1/videos").json()["items"] == [], "private videos are not listed"

    r = client.patch(f"/api/v1/videos/{vid}", json={})
    assert r.status_code == 200
    assert r.json()["title"] == "New title"


@pytest.mark.parametrize(
    "body",
    [
        {"visibility": "secret"},
        {"owner": "mallory"},
        {"title": ""},
        {"title": "x" * 301},
        {"title": 42},
        ["title"],
    ],
)
def test_patch_invalid_body_is_422(client: TestClient, body: Any) -> None:
    vid = run(client, create_video, services_of(client), "keep")
    assert_error(client.patch(f"/api/v1/videos/{vid}", json=body), 422, "invalid_request")
    assert client.get(f"/api/v1/videos/{vid}").json()["title"] == "keep"


def test_patch_malformed_json_is_422(client: TestClient) -> None:
    vid = run(client, create_video, services_of(client), "keep")
    r = client.patch(
        f"/api/v1/videos/{vid}", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(r, 422)


def test_patch_unknown_video_is_404(client: TestClient) -> None:
    assert_error(client.patch(f"/api/v1/videos/{new_id()}", json={"title": "t"}), 404)


# -- DELETE


def test_delete_removes_row_files_and_staging(client: TestClient) -> None:
    services = services_of(client)
    vid = run(client, create_video, services, "doomed")
    other = run(client, create_video, services, "survivor")
    run(client, queue_video, services, vid)
    run(client, publish_fake, services, vid)
    run(client, queue_video, services, other)

    upload_id, other_upload = new_id(), new_id()

    async def add_uploads() -> None:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        async with services.db.transaction() as s:
            s.add(Upload(id=upload_id, video_id=vid, length=10, expires_at=expires))
            s.add(Upload(id=other_upload, video_id=other, length=10, expires_at=expires))

    run(client, add_uploads)
    staging = services.settings.resolved_upload_dir
    staging.mkdir(parents=True, exist_ok=True)
    (staging / upload_id).write_bytes(b"partial")
    (staging / f"{upload_id}.chunk").write_bytes(b"half a chunk")
    (staging / other_upload).write_bytes(b"keep me")
    assert run(client, services.store.list, video_prefix(vid))

    r = client.delete(f"/api/v1/videos/{vid}")
    assert r.status_code == 204
    assert r.content == b""
    assert_error(client.get(f"/api/v1/videos/{vid}"), 404, "video_not_found")
    assert_error(client.get(f"/api/v1/videos/{vid}/playback"), 404)
    assert_error(client.delete(f"/api/v1/videos/{vid}"), 404)
    assert run(client, services.store.list, video_prefix(vid)) == []
    if services.settings.storage_backend == "local":
        assert not (services.settings.resolved_storage_root / video_prefix(vid)).exists()
    assert not (staging / upload_id).exists()
    assert not (staging / f"{upload_id}.chunk").exists()

    # the other video, its files, its upload and its staging file are untouched
    assert client.get(f"/api/v1/videos/{other}").status_code == 200
    assert run(client, services.store.list, video_prefix(other))
    assert (staging / other_upload).read_bytes() == b"keep me"


def test_delete_malformed_id_is_404(client: TestClient) -> None:
    assert_error(client.delete("/api/v1/videos/..%2F..%2Fetc"), 404)
    assert_error(client.delete("/api/v1/videos/AAAAAAAAAAAAAAA!"), 404)


# -- playback


def test_playback_is_409_until_published(client: TestClient) -> None:
    services = services_of(client)
    vid = run(client, create_video, services, "pending")
    err = assert_error(client.get(f"/api/v1/videos/{vid}/playback"), 409, "video_not_playable")
    assert "upload" in err["message"]
    run(client, queue_video, services, vid)
    err = assert_error(client.get(f"/api/v1/videos/{vid}/playback"), 409, "video_not_playable")
    assert "queued" in err["message"]


def test_playback_of_a_failed_video_says_why(client: TestClient) -> None:
    services = services_of(client)
    vid = run(client, create_video, services, "broken")

    async def fail() -> None:
        from reelstream.videos import repository as repo

        async with services.db.transaction() as s:
            await repo.mark_failed(s, vid, "the file has no video stream")

    run(client, fail)
    err = assert_error(client.get(f"/api/v1/videos/{vid}/playback"), 409, "video_not_playable")
    assert "no video stream" in err["message"]
    assert client.get(f"/api/v1/videos/{vid}").json()["error"] == "the file has no video stream"


def test_published_video_plays_through_the_origin(client: TestClient) -> None:
    services = services_of(client)
    vid = run(client, create_video, services, "ready")
    run(client, queue_video, services, vid)
    rev = run(client, publish_fake, services, vid)

    v = client.get(f"/api/v1/videos/{vid}").json()
    assert v["status"] == "ready"
    assert v["playable"] is True
    assert v["progress"] == 1.0
    assert v["ready_at"] is not None
    assert [(r["name"], r["height"], r["bandwidth"], r["ready"]) for r in v["renditions"]] == [
        ("v360", 360, 900_000, True)
    ]

    r = client.get(f"/api/v1/videos/{vid}/playback")
    assert r.status_code == 200, r.text
    playback = r.json()
    assert playback["dash_url"] is None
    url = urlsplit(playback["hls_url"])
    assert f"{url.scheme}://{url.netloc}" == "http://testserver"
    parts = url.path.split("/")
    assert parts[:4] == ["", "media", vid, rev]
    assert parts[5] == "master.m3u8"
    expires = dt.datetime.fromisoformat(playback["expires_at"])
    remaining = (expires - dt.datetime.now(dt.UTC)).total_seconds()
    ttl = services.settings.playback_ttl_s
    assert ttl - 60 < remaining <= ttl
    services.signer.verify(parts[4], vid)

    master = client.get(playback["hls_url"])
    assert master.status_code == 200
    assert master.text == MASTER
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    # a relative URI inside the master playlist inherits the token
    variant = client.get(urljoin(playback["hls_url"], "v360/index.m3u8"))
    assert variant.status_code == 200
    assert variant.text.startswith("#EXTM3U")

    poster = client.get(v["poster_url"])
    assert poster.status_code == 200
    assert poster.headers["content-type"] == "image/jpeg"


def test_public_base_url_makes_absolute_urls(client: TestClient) -> None:
    services = services_of(client)
    vid = run(client, create_video, services, "cdn")
    run(client, publish_fake, services, vid)
    services.settings.public_base_url = "https://video.example.org/"
    playback = client.get(f"/api/v1/videos/{vid}/playback").json()
    assert playback["hls_url"].startswith(f"https://video.example.org/media/{vid}/")
    poster = client.get(f"/api/v1/videos/{vid}").json()["poster_url"]
    assert poster.startswith(f"https://video.example.org/media/{vid}/")
    assert poster.endswith("/poster.jpg")


# -- contract


def test_unknown_route_and_method_are_json_errors(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404)
    assert_error(client.put("/api/v1/videos"), 405)


def test_openapi_lists_the_contract_paths(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        "/api/v1/uploads": {"post"},
        "/api/v1/uploads/{upload_id}": {"head", "patch", "delete"},
        "/api/v1/videos": {"get"},
        "/api/v1/videos/{video_id}": {"get", "patch", "delete"},
        "/api/v1/videos/{video_id}/playback": {"get"},
        "/media/{video_id}/{rev}/{token}/{path}": {"get", "head"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/metrics": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, f"{path} missing from the OpenAPI document"
        assert methods <= set(paths[path]), f"{path}: {set(paths[path])}"

    def ok_schema(path: str, method: str, status: str = "200") -> str:
        content = paths[path][method]["responses"][status]["content"]
        ref: str = content["application/json"]["schema"]["$ref"]
        return ref.rsplit("/", 1)[-1]

    assert ok_schema("/api/v1/videos", "get") == "VideoPage"
    assert ok_schema("/api/v1/videos/{video_id}", "get") == "VideoOut"
    assert ok_schema("/api/v1/videos/{video_id}", "patch") == "VideoOut"
    assert ok_schema("/api/v1/videos/{video_id}/playback", "get") == "PlaybackOut"
    assert ok_schema("/api/v1/videos/{video_id}/playback", "get", "409") == "ErrorOut"
    assert "204" in paths["/api/v1/videos/{video_id}"]["delete"]["responses"]
    video = spec["components"]["schemas"]["VideoOut"]["properties"]
    for field in ("id", "title", "status", "playable", "duration_s", "renditions", "error"):
        assert field in video
    assert "created_at" in video


def test_delete_during_a_tus_upload_removes_its_staging_file(client: TestClient) -> None:
    services = services_of(client)
    tus = {"tus-resumable": "1.0.0"}
    filename = base64.b64encode(b"half.mp4").decode()
    r = client.post(
        "/api/v1/uploads",
        headers={**tus, "upload-length": "100", "upload-metadata": f"filename {filename}"},
    )
    assert r.status_code == 201, r.text
    vid, location = r.headers["video-id"], r.headers["location"]
    upload_id = location.rstrip("/").rsplit("/", 1)[-1]
    r = client.patch(
        location,
        content=b"x" * 10,
        headers={**tus, "upload-offset": "0", "content-type": "application/offset+octet-stream"},
    )
    assert r.status_code == 204, r.text
    staged = services.settings.resolved_upload_dir / upload_id
    assert staged.is_file()
    assert client.get(f"/api/v1/videos/{vid}").json()["status"] == "uploading"

    assert client.delete(f"/api/v1/videos/{vid}").status_code == 204
    assert not staged.exists()
    assert client.head(location, headers=tus).status_code == 404
