"""The /api/v1/webhooks API: registration, validation, ownership, scopes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.config import Settings
from reelstream.webhooks.events import EVENT_TYPES
from tests.support import bearer, create_account, sign_in

HOOK = "http://127.0.0.1:9/hook"


def error_of(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    return str(err["message"])


def test_register_list_get_delete(client: TestClient) -> None:
    r = client.post("/api/v1/webhooks", json={"url": HOOK, "description": " mine "})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["events"] == list(EVENT_TYPES)  # default: every event
    assert made["description"] == "mine"
    assert made["secret"].startswith("whsec_")  # shown once ...
    listed = client.get("/api/v1/webhooks").json()["items"]
    assert [e["id"] for e in listed] == [made["id"]]
    assert listed[0]["secret"] is None  # ... and never again
    assert client.get(f"/api/v1/webhooks/{made['id']}").json()["secret"] is None

    r = client.post("/api/v1/webhooks", json={"url": HOOK, "events": ["video.deleted"]})
    assert r.json()["events"] == ["video.deleted"]
    assert len(client.get("/api/v1/webhooks").json()["items"]) == 2

    assert client.delete(f"/api/v1/webhooks/{made['id']}").status_code == 204
    assert client.get(f"/api/v1/webhooks/{made['id']}").status_code == 404
    assert client.delete(f"/api/v1/webhooks/{made['id']}").status_code == 404
    assert client.get(f"/api/v1/webhooks/{made['id']}/deliveries").status_code == 404


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"url": "ftp://example.com/hook"}, "http"),
        ({"url": "https://user:pw@example.com/hook"}, "credentials"),
        ({"url": "https:///nohost"}, "host"),
        ({"url": "http://example.com:99999/"}, "malformed"),
        ({"url": ""}, "characters"),
        ({"url": HOOK, "events": ["video.exploded"]}, "video.exploded"),
        ({"url": HOOK, "events": []}, "subset"),
    ],
)
def test_bad_input_is_422(client: TestClient, body: dict[str, Any], fragment: str) -> None:
    message = error_of(client.post("/api/v1/webhooks", json=body), 422, "invalid_webhook")
    assert fragment in message
    assert client.get("/api/v1/webhooks").json()["items"] == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_private_addresses_are_refused_unless_allowed(tmp_path: Path, url: str) -> None:
    settings = Settings(
        env="development",
        data_dir=tmp_path / "data",
        embedded_workers=False,
        dev_admin=False,
        webhook_allow_private=False,
        _env_file=None,
    )
    with TestClient(create_app(settings)) as c:
        sign_in(c)
        message = error_of(c.post("/api/v1/webhooks", json={"url": url}), 422, "invalid_webhook")
        assert "private" in message


def test_private_addresses_default_to_refused_outside_development() -> None:
    assert not Settings(env="production", _env_file=None).allow_private_webhooks
    assert Settings(env="development", _env_file=None).allow_private_webhooks


def test_other_users_cannot_see_or_delete_an_endpoint(client: TestClient) -> None:
    mine = client.post("/api/v1/webhooks", json={"url": HOOK}).json()
    other = bearer(create_account(client, "mallory"))
    assert client.get("/api/v1/webhooks", headers=other).json()["items"] == []
    for path in (f"/api/v1/webhooks/{mine['id']}", f"/api/v1/webhooks/{mine['id']}/deliveries"):
        error_of(client.get(path, headers=other), 404, "webhook_not_found")
    r = client.delete(f"/api/v1/webhooks/{mine['id']}", headers=other)
    error_of(r, 404, "webhook_not_found")
    error_of(client.get("/api/v1/webhooks?all=1", headers=other), 403, "forbidden")
    assert client.get(f"/api/v1/webhooks/{mine['id']}").status_code == 200  # still there

    admin = bearer(create_account(client, "root", admin=True, scopes=("admin",)))
    everyone = client.get("/api/v1/webhooks?all=1", headers=admin).json()["items"]
    assert [e["id"] for e in everyone] == [mine["id"]]
    assert client.get("/api/v1/webhooks", headers=admin).json()["items"] == []  # own only
    assert client.get(f"/api/v1/webhooks/{mine['id']}/deliveries", headers=admin).status_code == 200
    assert client.delete(f"/api/v1/webhooks/{mine['id']}", headers=admin).status_code == 204


def test_scopes_and_anonymous(client: TestClient, anon: TestClient) -> None:
    made = client.post("/api/v1/webhooks", json={"url": HOOK}).json()
    error_of(anon.get("/api/v1/webhooks"), 401, "not_authenticated")
    error_of(anon.post("/api/v1/webhooks", json={"url": HOOK}), 401, "not_authenticated")
    reader = bearer(create_account(client, "reader", scopes=("read",)))
    r = client.post("/api/v1/webhooks", json={"url": HOOK}, headers=reader)
    error_of(r, 403, "insufficient_scope")
    # the owner's read-only token may read deliveries but not delete
    own_read = bearer(create_account(client, "owner2", scopes=("read",)))
    assert client.get("/api/v1/webhooks", headers=own_read).json()["items"] == []
    assert client.get(f"/api/v1/webhooks/{made['id']}/deliveries").json() == {"items": []}
