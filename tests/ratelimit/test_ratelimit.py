"""Rate limits against the real HTTP API: each category refuses past its limit with 429,
Retry-After, RateLimit-* headers and the JSON reason (the site's forms: their page again, with
the reason); accounts and IPs have their own buckets; Redis shares the counts between
instances and its outage lets requests through."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.config import Settings
from tests.fixtures.redis import RedisServer
from tests.ingest.helpers import b64
from tests.support import bearer, create_account, post_form, sign_in, sign_up_session
from tests.videos.factories import create_video

TUS = {"Tus-Resumable": "1.0.0"}
HOOK = "http://127.0.0.1:9/hook"  # never called: no event happens in these tests
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@contextmanager
def app_with(settings: Settings, **limits: Any) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update=limits))) as c:
        yield c


def assert_limit_headers(r: httpx2.Response, limit: int) -> None:
    assert r.status_code == 429, r.text
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.headers["RateLimit-Limit"] == str(limit)
    assert r.headers["RateLimit-Remaining"] == "0"
    assert 0 <= int(r.headers["RateLimit-Reset"]) <= 60


def assert_limited(r: httpx2.Response, limit: int) -> None:
    """The API's refusal: JSON."""
    assert_limit_headers(r, limit)
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == "rate_limited"
    assert r.json()["error"]["message"]


def assert_limited_page(r: httpx2.Response, limit: int, reason: str) -> None:
    """A form's refusal: its page again, saying why and for how long."""
    assert_limit_headers(r, limit)
    assert r.headers["content-type"].startswith("text/html")
    wait = int(r.headers["Retry-After"])
    unit = "second" if wait == 1 else "seconds"
    assert f'id="form-error">{reason}; try again in {wait} {unit}.</p>' in r.text, r.text


def create_upload(c: TestClient, headers: dict[str, str]) -> httpx2.Response:
    meta = f"filename {b64('a.mp4')}"
    return c.post(
        "/api/v1/uploads",
        headers={**TUS, "Upload-Length": "10", "Upload-Metadata": meta, **headers},
    )


def test_reads_per_ip_with_headers(settings: Settings) -> None:
    with app_with(settings, rate_limit_reads="3/minute") as c:
        remaining = []
        for _ in range(3):
            r = c.get("/api/v1/videos")
            assert r.status_code == 200
            assert r.headers["RateLimit-Limit"] == "3"
            remaining.append(r.headers["RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"]
        r = c.get("/api/v1/videos")
        assert_limited(r, 3)
        assert "too many requests" in r.json()["error"]["message"]
        assert_limited(c.get("/api/v1/videos", headers=BROWSER), 3)  # the API stays JSON
        assert c.get("/healthz").status_code == 200  # ops endpoints are not limited


def test_login_per_username_and_per_ip(settings: Settings) -> None:
    with app_with(settings, rate_limit_login="2/minute", rate_limit_login_ip="4/minute") as c:
        create_account(c, "alice", password="correct horse battery")
        form = {"username": "Alice", "password": "wrong"}
        assert post_form(c, "/login", form).status_code == 401
        assert post_form(c, "/login", form).status_code == 401
        # the third attempt on alice is refused, even with the right password: the sign-in
        # page again, filled in, saying why, and no session
        right = {"username": "alice", "password": "correct horse battery", "next": "/upload"}
        r = post_form(c, "/login", right, headers=BROWSER, follow_redirects=False)
        assert_limited_page(r, 2, "Too many sign-in attempts for this username")
        assert 'id="login-form"' in r.text
        assert 'value="alice"' in r.text
        assert 'name="next" value="/upload"' in r.text
        assert "set-cookie" not in r.headers
        # another username from the same address: the per-IP limit (4) is next
        assert post_form(c, "/login", {"username": "bob", "password": "x"}).status_code == 401
        r = post_form(c, "/login", {"username": "carol", "password": "x"})
        assert_limited_page(r, 4, "Too many sign-in attempts from this address")


def test_signup_per_ip(settings: Settings) -> None:
    with app_with(settings, rate_limit_signup="2/minute", signup_enabled=True) as c:
        for name in ("u1", "u2"):
            r = post_form(
                c,
                "/signup",
                {"username": name, "password": "long enough password"},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
        r = post_form(
            c,
            "/signup",
            {"username": "u3", "email": "u3@example.com", "password": "long enough password"},
            headers=BROWSER,
            follow_redirects=False,
        )
        assert_limited_page(r, 2, "Too many sign-ups from this address")
        assert 'id="signup-form"' in r.text and 'value="u3@example.com"' in r.text
        assert "set-cookie" not in r.headers
        login = {"username": "u3", "password": "long enough password"}
        assert post_form(c, "/login", login).status_code == 401  # no account was made


def test_upload_creation_per_account(settings: Settings) -> None:
    with app_with(settings, rate_limit_upload="2/minute") as c:
        first, second = bearer(create_account(c, "first")), bearer(create_account(c, "second"))
        assert create_upload(c, first).status_code == 201
        assert create_upload(c, first).status_code == 201
        r = create_upload(c, first)
        assert_limited(r, 2)
        assert r.headers["Tus-Resumable"] == "1.0.0"
        # another account from the same address has its own bucket
        assert create_upload(c, second).status_code == 201


def test_writes_per_account(settings: Settings) -> None:
    with app_with(settings, rate_limit_writes="2/minute") as c:
        sign_in(c, "owner")
        other = bearer(create_account(c, "other"))
        mine = c.portal.call(create_video, c.app.state.services)  # type: ignore[union-attr,attr-defined]
        theirs = c.portal.call(  # type: ignore[union-attr,call-arg]
            lambda: create_video(c.app.state.services, owner="other")  # type: ignore[attr-defined]
        )
        for title in ("a", "b"):
            assert c.patch(f"/api/v1/videos/{mine}", json={"title": title}).status_code == 200
        assert_limited(c.patch(f"/api/v1/videos/{mine}", json={"title": "c"}), 2)
        r = c.patch(f"/api/v1/videos/{theirs}", json={"title": "x"}, headers=other)
        assert r.status_code == 200
        assert c.get(f"/api/v1/videos/{mine}").status_code == 200  # reads are another bucket


def test_webhooks_reads_per_ip_and_changes_per_account(settings: Settings) -> None:
    with app_with(settings, rate_limit_reads="3/minute", rate_limit_writes="2/minute") as c:
        first, second = bearer(create_account(c, "first")), bearer(create_account(c, "second"))
        made = [c.post("/api/v1/webhooks", json={"url": HOOK}, headers=first) for _ in "ab"]
        assert [r.status_code for r in made] == [201, 201]
        assert [r.headers["RateLimit-Remaining"] for r in made] == ["1", "0"]
        r = c.post("/api/v1/webhooks", json={"url": HOOK}, headers=first)
        assert_limited(r, 2)
        assert "too many changes" in r.json()["error"]["message"]
        # another account has its own bucket; deleting counts as a change
        theirs = c.post("/api/v1/webhooks", json={"url": HOOK}, headers=second).json()["id"]
        assert c.delete(f"/api/v1/webhooks/{theirs}", headers=second).status_code == 204
        assert_limited(c.delete(f"/api/v1/webhooks/{made[0].json()['id']}", headers=first), 2)

        # reads: per address, whichever account asks
        mine = c.get("/api/v1/webhooks", headers=first)
        assert mine.status_code == 200 and mine.headers["RateLimit-Limit"] == "3"
        assert len(mine.json()["items"]) == 2  # neither refused request changed anything
        endpoint = made[1].json()["id"]
        assert c.get(f"/api/v1/webhooks/{endpoint}", headers=first).status_code == 200
        r = c.get(f"/api/v1/webhooks/{endpoint}/deliveries", headers=first)
        assert r.status_code == 200 and r.headers["RateLimit-Remaining"] == "0"
        r = c.get("/api/v1/webhooks", headers={**second, **BROWSER})
        assert_limited(r, 3)
        assert "too many requests from this address" in r.json()["error"]["message"]


def test_access_token_creation_and_revocation_per_account(settings: Settings) -> None:
    with app_with(settings, rate_limit_tokens="2/minute", rate_limit_writes="1/minute") as c:
        csrf = sign_up_session(c, "alice", "long enough password")

        def create(name: str) -> httpx2.Response:
            form = {"name": name, "scopes": "read", "csrf_token": csrf}
            return c.post("/account/tokens", data=form, headers=BROWSER)

        for name in ("laptop", "ci"):
            r = create(name)
            assert r.status_code == 200 and r.history[0].status_code == 303, r.text
            assert 'id="new-token">rs_' in r.text  # the new token, shown once
        r = create("third")
        assert_limited_page(r, 2, "Too many access tokens created")
        assert 'id="token-form"' in r.text and "<td>third</td>" not in r.text  # nothing made

        ids = re.findall(r'action="/account/tokens/([A-Za-z0-9]+)/revoke"', r.text)
        assert len(ids) == 2
        revoke = {"csrf_token": csrf}
        r = c.post(f"/account/tokens/{ids[0]}/revoke", data=revoke, follow_redirects=False)
        assert r.status_code == 303
        r = c.post(f"/account/tokens/{ids[1]}/revoke", data=revoke, headers=BROWSER)
        assert_limited_page(r, 1, "Too many changes")
        assert r.text.count("revoked ") == 1  # the second token is still live

        # another account's buckets are its own
        other = TestClient(c.app)
        other.portal = c.portal
        other_csrf = sign_up_session(other, "bob", "long enough password")
        form = {"name": "bob's", "scopes": "read", "csrf_token": other_csrf}
        assert other.post("/account/tokens", data=form, follow_redirects=False).status_code == 303


def test_disabled(settings: Settings) -> None:
    with app_with(settings, rate_limit_enabled=False, rate_limit_reads="1/minute") as c:
        for _ in range(5):
            r = c.get("/api/v1/videos")
            assert r.status_code == 200
            assert "RateLimit-Limit" not in r.headers


def test_redis_counts_are_shared_between_instances(settings: Settings, redis_url: str) -> None:
    one = settings.model_copy(update={"data_dir": settings.data_dir / "one"})
    two = settings.model_copy(update={"data_dir": settings.data_dir / "two"})
    limits = {"redis_url": redis_url, "rate_limit_reads": "3/minute"}
    with app_with(one, **limits) as a, app_with(two, **limits) as b:
        assert a.get("/api/v1/videos").status_code == 200
        assert a.app.state.ratelimiter.backend == "redis"  # type: ignore[attr-defined]
        assert b.get("/api/v1/videos").status_code == 200
        r = a.get("/api/v1/videos")
        assert r.status_code == 200
        assert r.headers["RateLimit-Remaining"] == "0"
        assert_limited(b.get("/api/v1/videos"), 3)


def test_redis_outage_lets_requests_through(settings: Settings, own_redis: RedisServer) -> None:
    with app_with(settings, redis_url=own_redis.url, rate_limit_reads="2/minute") as c:
        assert c.get("/api/v1/videos").status_code == 200
        own_redis.stop()
        for _ in range(5):
            assert c.get("/api/v1/videos").status_code == 200
        assert c.app.state.ratelimiter.breaker.is_closed is False  # type: ignore[attr-defined]
