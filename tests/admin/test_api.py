"""The admin API over HTTP: who may call it, job listings, retries, workers and users."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from reelstream.services import Services
from reelstream.videos import repository as repo
from tests.admin.conftest import (
    Admin,
    add_worker,
    failed_transcode,
    queued_transcode,
    set_job,
)

# -- who may call it ---------------------------------------------------------------------------


def _retry(admin: Admin) -> tuple[str, str, dict[str, Any]]:
    _, job_id = admin.run(failed_transcode, admin.services)
    return "POST", f"/api/v1/admin/jobs/{job_id}/retry", {}


def _quota(admin: Admin) -> tuple[str, str, dict[str, Any]]:
    user_id = admin.anon.get("/api/v1/admin/users", headers=admin.headers("admin")).json()
    target = next(u["user_id"] for u in user_id["users"] if u["username"] == "someone")
    return "PUT", f"/api/v1/admin/users/{target}/quota", {"json": {"quota_bytes": 5000}}


ENDPOINTS: dict[str, Callable[[Admin], tuple[str, str, dict[str, Any]]]] = {
    "jobs": lambda a: ("GET", "/api/v1/admin/jobs", {}),
    "retry": _retry,
    "workers": lambda a: ("GET", "/api/v1/admin/workers", {}),
    "users": lambda a: ("GET", "/api/v1/admin/users", {}),
    "quota": _quota,
}
ALLOWED = {"retry": 202}


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_every_admin_endpoint_is_for_admins_acting_as_admins(admin: Admin, endpoint: str) -> None:
    expected = {"anonymous": 401, "owner": 403, "user": 403, "half": 403}
    for role, status in expected.items():
        method, path, kw = ENDPOINTS[endpoint](admin)
        r = admin.anon.request(method, path, headers=admin.headers(role), **kw)
        assert r.status_code == status, (role, r.text)
        code = r.json()["error"]["code"]
        assert code == ("not_authenticated" if status == 401 else "forbidden"), (role, code)
    method, path, kw = ENDPOINTS[endpoint](admin)
    r = admin.as_admin(method, path, **kw)
    assert r.status_code == ALLOWED.get(endpoint, 200), r.text


def test_a_refused_retry_changed_nothing(admin: Admin) -> None:
    vid, job_id = admin.run(failed_transcode, admin.services)
    r = admin.anon.post(f"/api/v1/admin/jobs/{job_id}/retry", headers=admin.headers("owner"))
    assert r.status_code == 403
    jobs = admin.as_admin("GET", "/api/v1/admin/jobs").json()["items"]
    assert [j["id"] for j in jobs if j["video_id"] == vid] == [job_id]


# -- jobs ----------------------------------------------------------------------------------------


def test_jobs_are_listed_newest_first_with_their_video_and_owner(admin: Admin) -> None:
    vid, failed_id = admin.run(failed_transcode, admin.services, "broken clip")
    other_vid, queued_id = admin.run(queued_transcode, admin.services, "orphan", owner=None)
    admin.run(set_job, admin.services, queued_id, payload={"renditions": ["v360"]})

    r = admin.as_admin("GET", "/api/v1/admin/jobs")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [j["id"] for j in body["items"]] == [queued_id, failed_id]
    assert body["next_cursor"] is None
    assert body["counts"] == {
        "queued": 1,
        "running": 0,
        "succeeded": 0,
        "failed": 1,
        "cancelled": 0,
    }
    newest, failed = body["items"]
    assert newest["video_id"] == other_vid and newest["owner_username"] is None
    assert newest["payload"] == {"renditions": ["v360"]}
    assert failed["video_id"] == vid
    assert failed["video_title"] == "broken clip"
    assert failed["owner_username"] == "owner"
    assert failed["kind"] == "transcode" and failed["state"] == "failed"
    assert failed["attempts"] == failed["max_attempts"] == 3
    assert failed["last_error"] == "ffmpeg exited with code 1: boom"
    assert failed["finished_at"] is not None and failed["created_at"] is not None
    expected_keys = {
        "id", "video_id", "video_title", "owner_username", "kind", "state", "attempts",
        "max_attempts", "progress", "last_error", "created_at", "started_at", "finished_at",
        "run_at", "lease_owner", "heartbeat_at", "payload",
    }  # fmt: skip
    assert set(failed) == expected_keys


def test_jobs_filter_by_state_and_kind_and_page_with_the_cursor(admin: Admin) -> None:
    failed = [admin.run(failed_transcode, admin.services, f"f{i}")[1] for i in range(3)]
    queued = [admin.run(queued_transcode, admin.services, f"q{i}")[1] for i in range(2)]
    poster_video, transcode_id = admin.run(queued_transcode, admin.services, "p")
    queued.append(transcode_id)

    async def poster() -> int:
        async with admin.services.db.transaction() as s:
            return (await admin.services.queue.enqueue(s, poster_video, "poster")).id

    poster_id = admin.run(poster)
    everything = sorted([*failed, *queued, poster_id], reverse=True)

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = admin.as_admin("GET", "/api/v1/admin/jobs", params=params).json()
        assert len(body["items"]) <= 3
        seen += [j["id"] for j in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == everything and pages == 3

    def ids(**params: Any) -> list[int]:
        r = admin.as_admin("GET", "/api/v1/admin/jobs", params=params)
        assert r.status_code == 200, r.text
        return [j["id"] for j in r.json()["items"]]

    assert ids(state="failed") == sorted(failed, reverse=True)
    assert ids(kind="poster") == [poster_id]
    assert ids(state="queued", kind="transcode") == sorted(queued, reverse=True)
    assert ids(state="running") == []

    first = admin.as_admin("GET", "/api/v1/admin/jobs", params={"state": "failed", "limit": 2})
    body = first.json()
    assert [j["id"] for j in body["items"]] == sorted(failed, reverse=True)[:2]
    rest = ids(state="failed", limit=2, cursor=body["next_cursor"])
    assert rest == [min(failed)]
    # a cursor is only good for the filters it was issued with
    r = admin.as_admin("GET", "/api/v1/admin/jobs", params={"cursor": body["next_cursor"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"


def _forged(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"state": "exploded"}, 422),
        ({"kind": "Robert'); DROP TABLE jobs;--"}, 422),
        ({"kind": "x" * 33}, 422),
        ({"limit": 0}, 422),
        ({"limit": 201}, 422),
        ({"limit": "ten"}, 422),
        ({"cursor": "not a cursor"}, 400),
        ({"cursor": _forged(["1", "abc"])}, 400),
        ({"cursor": _forged([2**40, "abc"])}, 400),
        ({"cursor": _forged({"a": 1})}, 400),
        ({"cursor": "x" * 501}, 422),
    ],
)
def test_bad_listing_parameters_are_a_clear_4xx(
    admin: Admin, params: dict[str, Any], status: int
) -> None:
    r = admin.as_admin("GET", "/api/v1/admin/jobs", params=params)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] in ("invalid_request", "invalid_cursor") and error["message"]


@pytest.mark.parametrize(("path", "status"), [("abc", 422), ("0", 422), (str(2**40), 422)])
def test_bad_job_ids_are_a_clear_4xx(admin: Admin, path: str, status: int) -> None:
    r = admin.as_admin("POST", f"/api/v1/admin/jobs/{path}/retry")
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == "invalid_request"


# -- retry ---------------------------------------------------------------------------------------


def test_retry_requeues_a_failed_transcode_and_wakes_the_workers(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    vid, job_id = admin.run(failed_transcode, admin.services)
    woken: list[bool] = []
    real_notify = admin.services.notifier.notify

    def notify() -> None:  # counts the wake-ups, then wakes
        woken.append(True)
        real_notify()

    monkeypatch.setattr(admin.services.notifier, "notify", notify)

    r = admin.as_admin("POST", f"/api/v1/admin/jobs/{job_id}/retry")
    assert r.status_code == 202, r.text
    new = r.json()
    assert new["id"] > job_id
    assert new["video_id"] == vid and new["kind"] == "transcode"
    assert new["state"] == "queued" and new["attempts"] == 0
    assert new["owner_username"] == "owner" and new["video_title"] == "broken"
    assert woken == [True]

    video = admin.as_admin("GET", f"/api/v1/videos/{vid}").json()
    assert video["status"] == "queued"
    queued = admin.as_admin("GET", "/api/v1/admin/jobs", params={"state": "queued"}).json()
    assert [j["id"] for j in queued["items"]] == [new["id"]]

    # the old job again: the video already has a queued job
    again = admin.as_admin("POST", f"/api/v1/admin/jobs/{job_id}/retry")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "nothing_to_retry"
    # the new job has not failed
    r = admin.as_admin("POST", f"/api/v1/admin/jobs/{new['id']}/retry")
    assert r.status_code == 409
    assert r.json()["error"]["message"] == (
        f"job {new['id']} is queued; only failed jobs can be retried"
    )
    assert woken == [True]  # refusals wake nobody
    missing = admin.as_admin("POST", "/api/v1/admin/jobs/999999/retry")
    assert missing.status_code == 404
    assert missing.json()["error"] == {"code": "job_not_found", "message": "no job 999999"}


def test_retrying_a_superseded_failed_job_is_refused(admin: Admin) -> None:
    """A failed job whose video was transcoded again since: nothing to retry (409)."""
    vid, job_id = admin.run(failed_transcode, admin.services)
    assert admin.as_admin("POST", f"/api/v1/admin/jobs/{job_id}/retry").status_code == 202

    async def succeed() -> None:
        async with admin.services.db.transaction() as s:
            jobs = await admin.services.queue.jobs_of(s, vid)
            jobs[-1].state = "succeeded"
            video = await repo.get_video(s, vid)
            video.status = "ready"

    admin.run(succeed)
    r = admin.as_admin("POST", f"/api/v1/admin/jobs/{job_id}/retry")
    assert r.status_code == 409
    assert "only a failed video can be retried; this one is ready" in r.text


# -- workers -------------------------------------------------------------------------------------


def test_workers_show_their_heartbeat_age_and_a_stale_flag(admin: Admin) -> None:
    services: Services = admin.services
    hb = services.settings.heartbeat_s
    admin.run(add_worker, services, "alpha:101", heartbeat_age_s=0.2, running=1)
    admin.run(add_worker, services, "beta:202", heartbeat_age_s=3 * hb + 5)
    admin.run(add_worker, services, "gamma:303", heartbeat_age_s=600, stopped_age_s=600)

    r = admin.as_admin("GET", "/api/v1/admin/workers")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["heartbeat_s"] == hb and body["stale_after_s"] == 3 * hb
    by_id = {w["id"]: w for w in body["workers"]}
    assert list(by_id) == ["alpha:101", "beta:202", "gamma:303"]
    alpha, beta, gamma = by_id.values()
    assert (alpha["state"], alpha["stale"], alpha["running"], alpha["slots"]) == (
        "running",
        False,
        1,
        2,
    )
    assert alpha["host"] == "alpha" and alpha["pid"] == 101
    assert 0 <= alpha["seconds_since_heartbeat"] < 3 * hb
    assert (beta["state"], beta["stale"]) == ("stale", True)
    assert beta["seconds_since_heartbeat"] >= 3 * hb + 5
    assert (gamma["state"], gamma["stale"]) == ("stopped", False)  # stopped is never stale
    assert gamma["stopped_at"] is not None


# -- users and quotas ----------------------------------------------------------------------------


def _users(admin: Admin) -> dict[str, dict[str, Any]]:
    r = admin.as_admin("GET", "/api/v1/admin/users")
    assert r.status_code == 200, r.text
    return {u["username"]: u for u in r.json()["users"]}


def test_users_show_bytes_effective_quota_and_override(admin: Admin) -> None:
    from tests.admin.conftest import create_upload

    assert create_upload(admin.client, 7000).status_code == 201  # the owner's
    body = admin.as_admin("GET", "/api/v1/admin/users").json()
    default = admin.services.settings.default_quota_bytes
    assert body["default_quota_bytes"] == default
    assert body["total_bytes"] == 7000
    users = {u["username"]: u for u in body["users"]}
    assert set(users) == {"owner", "someone", "halfadmin", "boss"}
    assert body["users"][0]["username"] == "owner"  # the biggest first
    assert users["owner"] == {
        "user_id": users["owner"]["user_id"],
        "username": "owner",
        "is_admin": False,
        "used_bytes": 7000,
        "videos": 1,
        "uploading_bytes": 7000,
        "quota_bytes": default,
        "quota_override": None,
        "disabled": False,
    }
    assert users["boss"]["quota_bytes"] is None and users["boss"]["is_admin"]


@pytest.mark.parametrize(
    "body",
    [
        {"quota_bytes": -1},
        {"quota_bytes": "1000"},
        {"quota_bytes": 1.5},
        {"quota_bytes": True},
        {"quota_bytes": 2**63},
        {},
        {"quota_bytes": 10, "extra": 1},
        [1],
    ],
)
def test_invalid_quota_bodies_are_422(admin: Admin, body: Any) -> None:
    target = _users(admin)["someone"]["user_id"]
    r = admin.as_admin("PUT", f"/api/v1/admin/users/{target}/quota", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_request"
    assert _users(admin)["someone"]["quota_override"] is None


def test_quota_of_an_unknown_user_is_404(admin: Admin) -> None:
    r = admin.as_admin("PUT", "/api/v1/admin/users/nobody/quota", json={"quota_bytes": 1})
    assert r.status_code == 404
    assert r.json()["error"] == {"code": "user_not_found", "message": "no user 'nobody'"}
