"""The admin page (``/admin``): who sees it, what it shows, and its retry and quota forms
(with the session's CSRF token, refused without it)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from reelstream.web.admin import format_age, parse_size, quota_text
from tests.admin.conftest import Admin, add_worker, create_upload, failed_transcode
from tests.auth.test_accounts import csrf_of
from tests.web.test_pages import assert_valid_html

SessionClient = Callable[[str], TestClient]


def _page(c: TestClient, status: int = 200, path: str = "/admin") -> str:
    r = c.get(path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert_valid_html(r.text)
    return r.text


def _row(page: str, attr: str, value: object) -> str:
    match = re.search(rf'<tr {attr}="{value}"[^>]*>(.*?)</tr>', page, re.S)
    assert match, f"no row {attr}={value}"
    return match.group(1)


def _section(page: str, section_id: str) -> str:
    match = re.search(rf'<section class="panel" id="{section_id}">(.*?)</section>', page, re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def test_anonymous_is_sent_to_sign_in_and_non_admins_get_403(
    admin: Admin, session_client: SessionClient
) -> None:
    r = admin.anon.get("/admin", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fadmin"

    plain = session_client("plain")
    page = _page(plain, 403)
    assert "Admins only" in page and 'id="failed-jobs"' not in page
    assert 'href="/admin"' not in _page(plain, 200, "/")  # no nav link for users
    # an admin's token without the admin scope is a user too
    r = admin.anon.get("/admin", headers=admin.headers("half"))
    assert r.status_code == 403 and "Admins only" in r.text
    r = admin.anon.get("/admin", headers=admin.headers("admin"))
    assert r.status_code == 200 and 'id="storage"' in r.text

    boss = session_client("admin-page")
    home = _page(boss, 200, "/")
    assert 'href="/admin"' in home and 'id="nav-admin"' in home
    assert 'id="nav-admin"' in _page(boss)  # and on the page itself, marked current
    assert re.search(r'<a href="/admin" aria-current="page" id="nav-admin">Admin</a>', _page(boss))


def test_the_page_shows_jobs_workers_failed_jobs_and_bytes_per_user(
    admin: Admin, session_client: SessionClient
) -> None:
    services = admin.services
    # heartbeats every 30 s: a fresh row stays fresh however slowly a loaded machine renders
    services.settings.heartbeat_s = hb = 30
    vid, job_id = admin.run(failed_transcode, services, "<b>broken</b> & co")
    # the owner: a 3-byte source (failed_transcode) and a 3 MiB upload under way
    assert create_upload(admin.client, 3 * 1024**2).status_code == 201
    admin.run(add_worker, services, "render-01:4242", heartbeat_age_s=2, running=1)
    admin.run(add_worker, services, "render-02:777", heartbeat_age_s=3 * hb + 40)
    admin.run(add_worker, services, "render-03:31", heartbeat_age_s=300, stopped_age_s=300)

    boss = session_client("admin-viewer")
    page = _page(boss)
    csrf = csrf_of(page)

    jobs = _section(page, "jobs")
    assert re.search(r'data-state="failed"><span[^>]*>failed</span> <strong>1</strong>', jobs)
    assert re.search(r'data-state="queued"><span[^>]*>queued</span> <strong>0</strong>', jobs)
    assert 'data-state="all">all <strong>1</strong>' in jobs
    recent = _row(jobs, "data-job-id", job_id)
    assert str(escape("<b>broken</b> & co")) in recent and "<b>broken" not in page
    assert f'href="/watch/{vid}"' in recent and "owner" in recent
    assert "ffmpeg exited with code 1: boom" in recent and "3 / 3" in recent

    failed = _row(_section(page, "failed-jobs"), "data-job-id", job_id)
    assert f'action="/admin/jobs/{job_id}/retry"' in failed
    assert f'name="csrf_token" value="{csrf}"' in failed
    assert ">Retry</button>" in failed

    workers = _section(page, "workers")
    one = _row(workers, "data-worker-id", "render-01:4242")
    assert "<td>render-01</td>" in one and "<td>4242</td>" in one
    assert re.search(r">\d s ago<", one) and ">running<" in one
    assert ">stale<" in _row(workers, "data-worker-id", "render-02:777")
    stopped = _row(workers, "data-worker-id", "render-03:31")
    assert ">stopped<" in stopped and "5 min ago" in stopped

    storage = _section(page, "storage")
    owner_row = _row(storage, "data-user-id", _user_id(admin, "owner"))
    assert '<td class="bytes" title="3145731 bytes">3 MiB</td>' in owner_row
    assert '<td class="quota">10 GiB</td>' in owner_row
    assert 'name="quota"' in owner_row and f'value="{csrf}"' in owner_row
    assert ">unlimited<" in _row(storage, "data-user-id", _user_id(admin, "boss"))
    assert "3 MiB in total" in storage


def _user_id(admin: Admin, username: str) -> str:
    users = admin.as_admin("GET", "/api/v1/admin/users").json()["users"]
    return str(next(u["user_id"] for u in users if u["username"] == username))


def test_the_retry_form_requeues_with_the_csrf_token_only(
    admin: Admin, session_client: SessionClient
) -> None:
    vid, job_id = admin.run(failed_transcode, admin.services)
    boss = session_client("admin-retry")
    csrf = csrf_of(_page(boss))

    refused = boss.post(f"/admin/jobs/{job_id}/retry", follow_redirects=False)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    wrong = boss.post(
        f"/admin/jobs/{job_id}/retry", data={"csrf_token": "x" * 43}, follow_redirects=False
    )
    assert wrong.status_code == 403
    assert admin.as_admin("GET", f"/api/v1/videos/{vid}").json()["status"] == "failed"

    r = boss.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.startswith(f"/admin?notice=retried&job={job_id}&new=")
    assert location.endswith("#failed-jobs")
    assert admin.as_admin("GET", f"/api/v1/videos/{vid}").json()["status"] == "queued"
    queued = admin.as_admin("GET", "/api/v1/admin/jobs", params={"state": "queued"}).json()
    [new] = queued["items"]
    assert location == f"/admin?notice=retried&job={job_id}&new={new['id']}#failed-jobs"

    after = _page(boss, 200, location.split("#")[0])
    assert f'id="flash">Job {job_id} was re-queued as job {new["id"]}.</p>' in after
    failed = _row(_section(after, "failed-jobs"), "data-job-id", job_id)
    assert f"superseded by job {new['id']}" in failed and "Retry" not in failed

    # a second click (the same form, from an old tab): refused with the reason, on the page
    again = boss.post(f"/admin/jobs/{job_id}/retry", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert_valid_html(again.text)
    assert (
        '<p class="error-box" role="alert" id="form-error">'
        "only a failed video can be retried; this one is queued</p>"
    ) in again.text
    missing = boss.post("/admin/jobs/987654/retry", data={"csrf_token": csrf})
    assert missing.status_code == 404 and "no job 987654" in missing.text


def test_the_quota_form_sets_and_clears_the_override_with_the_csrf_token_only(
    admin: Admin, session_client: SessionClient
) -> None:
    boss = session_client("admin-quota")
    csrf = csrf_of(_page(boss))
    target = _user_id(admin, "someone")
    path = f"/admin/users/{target}/quota"

    def override() -> int | None:
        users = admin.as_admin("GET", "/api/v1/admin/users").json()["users"]
        found: int | None = next(u for u in users if u["user_id"] == target)["quota_override"]
        return found

    r = boss.post(path, data={"quota": "2 MiB"}, follow_redirects=False)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    assert override() is None

    r = boss.post(path, data={"quota": "2 MiB", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/admin?notice=quota&user={target}#storage"
    assert override() == 2 * 1024**2
    page = _page(boss, 200, r.headers["location"].split("#")[0])
    assert 'id="flash">The quota of someone is now 2 MiB.</p>' in page
    row = _row(_section(page, "storage"), "data-user-id", target)
    assert '<td class="quota">2 MiB</td>' in row and 'value="2 MiB"' in row
    # the override is what tus creation checks
    other = {"Authorization": f"Bearer {admin.tokens['user']}"}
    r413 = create_upload(admin.anon, 3 * 1024**2, other)
    assert r413.status_code == 413 and "of your 2 MiB quota is left" in r413.text

    boss.post(path, data={"quota": "unlimited", "csrf_token": csrf})
    assert override() == 0
    assert create_upload(admin.anon, 3 * 1024**2, other).status_code == 201
    boss.post(path, data={"quota": "", "csrf_token": csrf})
    assert override() is None

    bad = boss.post(path, data={"quota": "lots", "csrf_token": csrf})
    assert bad.status_code == 422
    assert_valid_html(bad.text)
    assert "&#39;lots&#39; is not a size" in bad.text and 'id="form-error"' in bad.text
    assert override() is None
    unknown = boss.post("/admin/users/nobody/quota", data={"quota": "1", "csrf_token": csrf})
    assert unknown.status_code == 404 and "no user &#39;nobody&#39;" in unknown.text

    # a plain user's session cannot use the form, even with its own CSRF token
    plain = session_client("plain-quota")
    own = csrf_of(_page(plain, 200, "/account"))
    r = plain.post(path, data={"quota": "1", "csrf_token": own})
    assert r.status_code == 403 and "Admins only" in r.text
    assert override() is None


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("", None),
        (" default ", None),
        ("0", 0),
        ("Unlimited", 0),
        ("1234", 1234),
        ("500 B", 500),
        ("2 KB", 2000),
        ("1.5 GiB", 3 * 1024**3 // 2),
        ("1.3 gib", int(1.3 * 1024**3)),
        ("10TB", 10 * 1000**4),
    ],
)
def test_parse_size_reads_the_form(text: str, size: int | None) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["-1", "1.5", "0.1 B", "2 GiBs", "1e9", "lots", "9" * 30])
def test_parse_size_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not|larger"):
        parse_size(text)


def test_quota_text_reads_back_to_the_same_bytes() -> None:
    for n in (None, 0, 1, 1024, 1536, 2 * 1024**2, 1_153_434, 10**12):
        assert parse_size(quota_text(n)) == n
    assert quota_text(2 * 1024**2) == "2 MiB" and quota_text(1_153_434) == "1153434"
    assert [format_age(s) for s in (0.4, 119, 150, 7300, 200_000)] == [
        "0 s ago",
        "119 s ago",
        "2 min ago",
        "2 h ago",
        "2 d ago",
    ]
