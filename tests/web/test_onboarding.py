"""What a new operator and a signed-out visitor are told (``reelstream.auth.onboarding``,
``reelstream.web.signin_notes``): how to make the first admin, why sign-in was asked for, and
that sign-in cannot work over plain http in production — in-process, no server."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from reelstream.app import create_app
from reelstream.auth.onboarding import (
    FIRST_ADMIN_COMMAND,
    PLAIN_HTTP_SIGN_IN,
    is_loopback_name,
    plain_http_sign_in,
    startup_advice,
)
from reelstream.config import Settings
from reelstream.web.signin_notes import sign_in_reason
from tests.support import create_account

pytestmark = pytest.mark.timeout(60)

PASSWORD = "a long enough password 1"


def production(settings: Settings) -> Settings:
    return settings.model_copy(update={"env": "production", "signing_keys": {}})


@pytest.fixture
def prod_app(settings: Settings) -> Iterator[TestClient]:
    """A production app (no user yet) reached as a browser on the LAN would: plain http."""
    with TestClient(create_app(production(settings)), base_url="http://192.168.1.20:8000") as c:
        yield c


def form_token(page: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m, page
    return m.group(1)


def test_loopback_names_and_plain_http() -> None:
    for host in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "app.localhost"):
        assert is_loopback_name(host), host
    for host in ("192.168.1.20:8000", "videos.example.com", "[2001:db8::1]:80", "10.0.0.1"):
        assert not is_loopback_name(host), host
    assert plain_http_sign_in(False, "http", "192.168.1.20:8000")
    assert not plain_http_sign_in(False, "https", "192.168.1.20:8000")  # TLS (or a proxy's)
    assert not plain_http_sign_in(False, "http", "127.0.0.1:8000")  # browsers keep it there
    assert not plain_http_sign_in(True, "http", "192.168.1.20:8000")  # not Secure in dev


def test_startup_advice_names_the_mode_and_what_to_set(tmp_path: Path) -> None:
    plain = Settings(data_dir=tmp_path, public_base_url="http://192.168.1.20:8000", _env_file=None)
    (mode, https) = startup_advice(plain, env_was_set=False)
    assert "production mode (REELSTREAM_ENV is not set" in mode
    assert "REELSTREAM_ENV=development reelstream serve" in mode
    assert "REELSTREAM_PUBLIC_BASE_URL=https://videos.example.com" in https
    assert "REELSTREAM_FORWARDED_ALLOW_IPS" in https
    tls = plain.model_copy(update={"public_base_url": "https://videos.example.com"})
    assert startup_advice(tls, env_was_set=True) == []
    dev = plain.model_copy(update={"env": "development"})
    assert startup_advice(dev, env_was_set=True) == []


def test_an_empty_server_logs_and_shows_how_to_make_the_first_admin(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="reelstream.auth.bootstrap")
    with TestClient(create_app(production(settings))) as client:
        logged = " ".join(r.getMessage() for r in caplog.records)
        assert f"`{FIRST_ADMIN_COMMAND} --data-dir {settings.data_dir}`" in logged
        page = client.get("/login").text
        assert FIRST_ADMIN_COMMAND in page and 'id="no-account-note"' in page
        create_account(client, "first", admin=True)
        assert FIRST_ADMIN_COMMAND not in client.get("/login").text  # only while empty


def test_the_sign_in_page_says_why_it_was_asked_for(client: TestClient) -> None:
    anon = TestClient(client.app)
    for page, reason in (
        ("/upload", "Sign in to upload videos."),
        ("/me/videos", "Sign in to see your videos."),
        ("/account", "Sign in to see your account."),
        ("/admin", "Sign in as an administrator to open the admin pages."),
    ):
        r = anon.get(page)
        assert r.status_code == 200 and r.url.path == "/login", page
        assert f'<p class="notice" id="sign-in-reason">{reason}</p>' in r.text, page
    assert 'id="sign-in-reason"' not in anon.get("/login").text  # asked for by the visitor
    assert sign_in_reason("/upload?x=1") == "Sign in to upload videos."
    assert sign_in_reason("/uploads-elsewhere") is None and sign_in_reason("/") is None


def test_plain_http_in_production_says_why_sign_in_cannot_work(prod_app: TestClient) -> None:
    create_account(prod_app, "ann", password=PASSWORD)
    page = prod_app.get("/login").text
    assert PLAIN_HTTP_SIGN_IN in page and 'id="plain-http-note"' in page
    # a form posted from that plain-http page: refused with the reason, no cookie the
    # browser would drop (it would only loop back to this form)
    r = prod_app.post(
        "/login",
        data={"username": "ann", "password": PASSWORD, "csrf_token": form_token(page)},
        headers={"Origin": "http://192.168.1.20:8000"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and PLAIN_HTTP_SIGN_IN in r.text
    assert "rs_session" not in r.headers.get("set-cookie", "")


def test_over_https_the_session_cookie_is_secure_and_nothing_warns(settings: Settings) -> None:
    with TestClient(create_app(production(settings)), base_url="https://videos.example.com") as c:
        create_account(c, "ann", password=PASSWORD)
        page = c.get("/login").text
        assert PLAIN_HTTP_SIGN_IN not in page
        r = c.post(
            "/login",
            data={"username": "ann", "password": PASSWORD, "csrf_token": form_token(page)},
            headers={"Origin": "https://videos.example.com"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        session = next(v for v in r.headers.get_list("set-cookie") if v.startswith("rs_session="))
        assert "Secure" in session and "HttpOnly" in session


def test_behind_a_trusted_proxy_https_counts_and_from_others_it_does_not(
    settings: Settings,
) -> None:
    """Development mode: the cookies are Secure exactly when the request is https, which a
    proxy may say (X-Forwarded-Proto) only if trusted (uvicorn's proxy headers, as
    ``reelstream serve`` runs them with ``forwarded_allow_ips``)."""
    app = create_app(settings)
    forwarded = {"X-Forwarded-Proto": "https"}
    for trusted, secure in (("*", True), ("127.0.0.1", False)):
        proxied = ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # type: ignore[arg-type]
        with TestClient(proxied) as c:  # type: ignore[arg-type]
            cookie = c.get("/login", headers=forwarded).headers["set-cookie"]
            assert cookie.startswith("__Host-rs_form=" if secure else "rs_form="), trusted
            assert ("Secure" in cookie) is secure, trusted
