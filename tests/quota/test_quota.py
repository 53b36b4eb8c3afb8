"""Storage accounting and quotas through the real HTTP API."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.config import Rung, Settings
from reelstream.storage.keys import video_prefix
from tests.ingest.helpers import b64
from tests.support import bearer, create_account, post_form, sign_in

TUS = {"Tus-Resumable": "1.0.0"}


def create_upload(
    c: TestClient, length: int, headers: dict[str, str] | None = None
) -> httpx2.Response:
    return c.post(
        "/api/v1/uploads",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": f"filename {b64('a.mp4')}",
            **(headers or {}),
        },
    )


def quota_app(settings: Settings, quota: int) -> TestClient:
    return TestClient(create_app(settings.model_copy(update={"default_quota_bytes": quota})))


def test_over_quota_is_refused_at_creation_with_the_reason(settings: Settings) -> None:
    with quota_app(settings, 1024**3) as c:
        sign_in(c, "owner")
        r = create_upload(c, 2 * 1024**3)
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "quota_exceeded"
        assert r.json()["error"]["message"] == (
            "this upload needs 2 GiB but only 1 GiB of your 1 GiB quota is left"
        )
        assert r.headers["Tus-Resumable"] == "1.0.0"
        assert c.get("/api/v1/videos?owner=me").json()["items"] == []  # nothing was created


def test_parallel_uploads_count_with_their_declared_length(settings: Settings) -> None:
    with quota_app(settings, 1000) as c:
        sign_in(c, "owner")
        assert create_upload(c, 600).status_code == 201
        r = create_upload(c, 500)
        assert r.status_code == 413
        assert "needs 500 B but only 400 B of your 1000 B quota is left" in r.text
        assert create_upload(c, 400).status_code == 201
        usage = c.get("/api/v1/me/usage").json()
        assert usage == {
            "used_bytes": 1000,
            "quota_bytes": 1000,
            "videos": 2,
            "uploading_bytes": 1000,
        }
        # another user has their own quota; admins have none
        other = bearer(create_account(c, "other"))
        assert create_upload(c, 1000, other).status_code == 201
        admin = bearer(create_account(c, "root", admin=True, scopes=("admin",)))
        assert create_upload(c, 5000, admin).status_code == 201
        assert c.get("/api/v1/me/usage", headers=admin).json()["quota_bytes"] is None


def test_admin_usage_is_for_admins_only(settings: Settings) -> None:
    with quota_app(settings, 10_000) as c:
        sign_in(c, "owner")
        assert create_upload(c, 700).status_code == 201
        anon = TestClient(c.app)
        anon.portal = c.portal
        assert anon.get("/api/v1/admin/usage").status_code == 401
        assert c.get("/api/v1/admin/usage").status_code == 403
        plain_admin = bearer(create_account(c, "halfadmin", admin=True, scopes=("write",)))
        assert c.get("/api/v1/admin/usage", headers=plain_admin).status_code == 403
        admin = bearer(create_account(c, "root", admin=True, scopes=("admin",)))
        r = c.get("/api/v1/admin/usage", headers=admin)
        assert r.status_code == 200, r.text
        body = r.json()
        by_name = {u["username"]: u for u in body["users"]}
        assert by_name["owner"]["used_bytes"] == 700
        assert by_name["owner"]["quota_bytes"] == 10_000
        assert by_name["root"]["quota_bytes"] is None
        assert body["total_bytes"] == 700
        assert anon.get("/api/v1/me/usage").status_code == 401


def test_usage_after_a_real_upload_and_publish_matches_the_stored_bytes(
    settings: Settings, clip: Path
) -> None:
    fast = settings.model_copy(
        update={"ladder": [Rung(height=144, video_kbps=150)], "default_quota_bytes": 10**9}
    )
    data = clip.read_bytes()
    with TestClient(create_app(fast, run_workers=True)) as c:
        sign_in(c, "owner", password="correct horse battery")
        r = c.post(
            "/api/v1/uploads",
            headers={
                **TUS,
                "Upload-Length": str(len(data)),
                "Upload-Metadata": f"filename {b64('clip.mp4')}",
                "Content-Type": "application/offset+octet-stream",
            },
            content=data,
        )
        assert r.status_code == 201, r.text
        video_id = r.headers["Video-Id"]
        deadline = time.monotonic() + 180
        while c.get(f"/api/v1/videos/{video_id}").json()["status"] != "ready":
            assert c.get(f"/api/v1/videos/{video_id}").json()["status"] != "failed"
            assert time.monotonic() < deadline, "the video never became ready"
            time.sleep(0.3)
        store = c.app.state.services.store  # type: ignore[attr-defined]
        blobs = c.portal.call(store.list, video_prefix(video_id))  # type: ignore[union-attr]
        stored = sum(b.size for b in blobs)
        assert any(b.key.endswith("/source") for b in blobs)
        assert any(b.key.endswith(".m4s") for b in blobs)
        usage = c.get("/api/v1/me/usage").json()
        assert usage["uploading_bytes"] == 0
        assert usage["videos"] == 1
        assert usage["used_bytes"] == stored
        assert usage["used_bytes"] > len(data)
        # the account page shows it
        c.headers.pop("Authorization")
        login = {"username": "owner", "password": "correct horse battery"}
        assert post_form(c, "/login", login, follow_redirects=False).status_code == 303
        page = c.get("/account").text
        assert 'id="storage-usage"' in page
        assert "of 953.7 MiB" in page
