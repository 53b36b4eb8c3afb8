"""The one error handler: a domain error answers with its own status and code; an error with a
``page_redirect`` sends a browser asking for a page there instead."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from reelstream.errors import ReelstreamError
from reelstream.http.errors import UNAVAILABLE_RETRY_AFTER_S, error_response, install_error_handlers


class Teapot(ReelstreamError):
    code = "teapot"
    status = 418


class SignInFirst(ReelstreamError):
    code = "sign_in_first"
    status = 401
    page_redirect = "/login"


def _client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/teapot")
    async def teapot() -> None:
        raise Teapot("short and stout")

    @app.get("/page")
    @app.get("/api/v1/thing")
    async def page() -> None:
        raise SignInFirst("who are you?")

    return TestClient(app, raise_server_exceptions=False)


def test_a_domain_error_answers_its_status_and_code() -> None:
    r = _client().get("/teapot")
    assert r.status_code == 418
    assert r.json() == {"error": {"code": "teapot", "message": "short and stout"}}


def test_an_error_with_a_page_redirect_redirects_pages_only() -> None:
    client = _client()
    r = client.get("/page?x=1", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fpage%3Fx%3D1"
    api = client.get("/api/v1/thing", follow_redirects=False)
    assert api.status_code == 401 and api.json()["error"]["code"] == "sign_in_first"


def test_a_503_without_retry_after_gets_one() -> None:
    # found by the chaos campaign: the object store failing under POST /api/v1/uploads answered
    # a bare 503, which clients and the checker read as a failure rather than "come back"
    r = error_response(503, "storage_error", "the storage is unavailable; try again shortly")
    assert r.status_code == 503
    assert r.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER_S)


def test_a_503_keeps_its_own_retry_after() -> None:
    r = error_response(503, "database_unavailable", "busy", {"Retry-After": "5", "X-A": "b"})
    assert r.headers["retry-after"] == "5"
    assert r.headers["x-a"] == "b"


def test_other_statuses_get_no_retry_after() -> None:
    for status in (400, 404, 500, 502):
        assert "retry-after" not in error_response(status, "x", "y").headers
