"""Per-user quota overrides: they change the 413 decision at tus creation and what
``/api/v1/me/usage`` says."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.config import Settings
from tests.admin.conftest import create_upload
from tests.support import bearer, create_account, sign_in

GIB = 1024**3


def _set(c: TestClient, admin: dict[str, str], user_id: str, quota: int | None) -> Any:
    r = c.put(f"/api/v1/admin/users/{user_id}/quota", headers=admin, json={"quota_bytes": quota})
    assert r.status_code == 200, r.text
    return r.json()


def test_an_override_changes_the_413_at_creation(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"default_quota_bytes": 10_000}))) as c:
        sign_in(c, "owner")
        admin = bearer(create_account(c, "boss", admin=True, scopes=("admin",)))
        me = c.get("/api/v1/me/usage").json()
        assert me["quota_bytes"] == 10_000
        users = c.get("/api/v1/admin/users", headers=admin).json()["users"]
        owner_id = next(u["user_id"] for u in users if u["username"] == "owner")

        # a tiny override: refused with the reason, nothing created
        out = _set(c, admin, owner_id, 100)
        assert out["quota_bytes"] == 100 and out["quota_override"] == 100
        assert c.get("/api/v1/me/usage").json()["quota_bytes"] == 100
        r = create_upload(c, 500)
        assert r.status_code == 413, r.text
        assert r.json()["error"] == {
            "code": "quota_exceeded",
            "message": "this upload needs 500 B but only 100 B of your 100 B quota is left",
        }
        assert c.get("/api/v1/videos?owner=me").json()["items"] == []
        assert create_upload(c, 100).status_code == 201  # exactly what is left fits

        # null: back to the default (10 000 bytes, 100 of them used)
        out = _set(c, admin, owner_id, None)
        assert out["quota_bytes"] == 10_000 and out["quota_override"] is None
        assert c.get("/api/v1/me/usage").json()["quota_bytes"] == 10_000
        assert create_upload(c, 9_000).status_code == 201
        r = create_upload(c, 5_000)
        assert r.status_code == 413
        assert "only 900 B of your 9.8 KiB quota is left" in r.json()["error"]["message"]

        # 0: unlimited, far beyond the default
        out = _set(c, admin, owner_id, 0)
        assert out["quota_bytes"] is None and out["quota_override"] == 0
        assert c.get("/api/v1/me/usage").json()["quota_bytes"] is None
        assert create_upload(c, GIB).status_code == 201

        # a bigger override than the default
        _set(c, admin, owner_id, 3 * GIB)
        assert c.get("/api/v1/me/usage").json() == {
            "used_bytes": 100 + 9_000 + GIB,
            "quota_bytes": 3 * GIB,
            "videos": 3,
            "uploading_bytes": 100 + 9_000 + GIB,
        }
        assert create_upload(c, GIB).status_code == 201
        r = create_upload(c, GIB)
        assert r.status_code == 413 and r.json()["error"]["code"] == "quota_exceeded"


def test_an_override_of_one_user_leaves_the_others_alone(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"default_quota_bytes": 0}))) as c:
        sign_in(c, "owner")
        other = bearer(create_account(c, "other"))
        admin = bearer(create_account(c, "boss", admin=True, scopes=("admin",)))
        users = {
            u["username"]: u for u in c.get("/api/v1/admin/users", headers=admin).json()["users"]
        }
        assert users["owner"]["quota_bytes"] is None  # default 0: unlimited
        _set(c, admin, users["owner"]["user_id"], 1000)
        assert create_upload(c, 1001).status_code == 413
        assert create_upload(c, 1001, other).status_code == 201
        # admins stay unlimited, whatever their override says
        out = _set(c, admin, users["boss"]["user_id"], 10)
        assert out["quota_bytes"] is None and out["quota_override"] == 10
        assert create_upload(c, 5000, admin).status_code == 201
