"""The studio pages in-process (no browser, no worker): each form's answer (POST-redirect-GET
with a notice, or the page again with the reason), the delete confirmation, the multipart
caption form's CSRF check, who may open the studio, and ``can_edit``."""

from __future__ import annotations

import functools

import pytest
from fastapi.testclient import TestClient

from reelstream.auth.deps import Principal
from reelstream.auth.tokens_api import ALL_SCOPES
from reelstream.videos.cache import VideoView
from reelstream.web.studio import can_edit
from tests.support import create_account, sign_up_session
from tests.videos.factories import create_video, publish_fake
from tests.web.test_pages import assert_valid_html

pytestmark = pytest.mark.timeout(60)

VTT = b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n"


def _video(client: TestClient, title: str, owner: str = "owner", **kw: str) -> str:
    services = client.app.state.services  # type: ignore[attr-defined]
    assert client.portal is not None
    make = functools.partial(create_video, services, title, owner=owner, **kw)
    vid = str(client.portal.call(make))
    client.portal.call(publish_fake, services, vid)
    return vid


def test_the_owner_edits_the_details_and_sees_why_a_change_is_refused(
    client: TestClient,
) -> None:
    vid = _video(client, "Before")
    page = client.get(f"/studio/{vid}")
    assert page.status_code == 200
    assert_valid_html(page.text)
    parts = ['id="edit-form"', 'id="caption-form"', 'id="poster-form"', 'id="timeline"']
    parts += ['id="replace-form"', f'href="/studio/{vid}/delete"', 'value="unlisted"']
    for part in parts:
        assert part in page.text, part

    # refused: the form again, 422, with the reason and what was typed
    refused = client.post(
        f"/studio/{vid}", data={"title": "", "description": "kept text", "visibility": "public"}
    )
    assert refused.status_code == 422
    assert "The title: String should have at least 1 character" in refused.text
    assert "kept text</textarea>" in refused.text
    bidi = client.post(f"/studio/{vid}", data={"title": "evil\u202etxt"})
    assert bidi.status_code == 422 and "bidirectional override" in bidi.text  # the service's check
    assert client.get(f"/api/v1/videos/{vid}").json()["title"] == "Before"

    # accepted: POST-redirect-GET with a notice; the API shows the change
    saved = client.post(
        f"/studio/{vid}",
        data={"title": "After", "description": "Now with words", "visibility": "private"},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/studio/{vid}?done=saved"
    shown = client.get(saved.headers["location"]).text
    assert 'id="page-notice">Saved.</p>' in shown
    api = client.get(f"/api/v1/videos/{vid}").json()
    assert (api["title"], api["description"], api["visibility"]) == (
        "After",
        "Now with words",
        "private",
    )

    # the poster form's refusals (a made-up time; a time past the end)
    for at_s, reason in (("soon", "is not a time in seconds"), ("99999", "less than the duration")):
        r = client.post(f"/studio/{vid}/poster", data={"at_s": at_s})
        assert r.status_code == 422 and 'id="poster-error"' in r.text and reason in r.text


def test_delete_asks_for_confirmation_then_goes_to_my_videos(client: TestClient) -> None:
    vid = _video(client, "Doomed")
    confirm = client.get(f"/studio/{vid}/delete")
    assert confirm.status_code == 200 and 'id="delete-confirm"' in confirm.text
    assert_valid_html(confirm.text)
    unticked = client.post(f"/studio/{vid}/delete", data={})
    assert unticked.status_code == 422 and "Tick the box" in unticked.text
    assert client.get(f"/api/v1/videos/{vid}").status_code == 200  # still there

    done = client.post(f"/studio/{vid}/delete", data={"confirm": "yes"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/me/videos?notice=deleted"
    assert "The video was deleted." in client.get(done.headers["location"]).text
    assert "page-notice" not in client.get("/me/videos?notice=<b>made-up</b>").text
    assert client.get(f"/api/v1/videos/{vid}").status_code == 404
    gone = client.get(f"/studio/{vid}", headers={"Accept": "text/html"})
    assert gone.status_code == 404 and "Video not found" in gone.text


def test_the_caption_form_needs_the_sessions_csrf_token(client: TestClient) -> None:
    browser = TestClient(client.app)
    browser.portal = client.portal
    csrf = sign_up_session(browser, "captioner", "correct horse battery")
    vid = _video(client, "Captions", owner="captioner")
    files = {"file": ("en.vtt", VTT, "text/vtt")}
    forged = browser.post(f"/studio/{vid}/captions", data={"lang": "en"}, files=files)
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed"
    bad = browser.post(
        f"/studio/{vid}/captions",
        data={"csrf_token": csrf, "lang": "en"},
        files={"file": ("en.txt", VTT, "text/plain")},
    )
    assert bad.status_code == 422 and "is not a .vtt or .srt file" in bad.text
    sent = browser.post(
        f"/studio/{vid}/captions",
        data={"csrf_token": csrf, "lang": "en", "label": "English"},
        files=files,
        follow_redirects=False,
    )
    # the form reached the caption service: the fake rev cannot take captions (the real
    # upload is in tests/browser/test_studio_browser.py); the page says why, with its status
    assert sent.status_code == 409 and 'id="caption-error"' in sent.text
    assert "without caption support" in sent.text


def test_only_the_owner_and_admins_open_the_studio(client: TestClient) -> None:
    vid = _video(client, "Mine", visibility="unlisted")
    other = create_account(client, "someone", scopes=("write",))
    admin = create_account(client, "boss", admin=True, scopes=("admin",))
    anon = TestClient(client.app, follow_redirects=False)
    anon.portal = client.portal
    r = anon.get(f"/studio/{vid}", headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=%2Fstudio%2F{vid}"
    denied = anon.get(f"/studio/{vid}", headers={"Authorization": f"Bearer {other}"})
    assert denied.status_code == 403 and "You cannot manage this video" in denied.text
    posted = anon.post(
        f"/studio/{vid}", data={"title": "x"}, headers={"Authorization": f"Bearer {other}"}
    )
    assert posted.status_code == 403
    assert client.get(f"/api/v1/videos/{vid}").json()["title"] == "Mine"
    ok = anon.get(f"/studio/{vid}", headers={"Authorization": f"Bearer {admin}"})
    assert ok.status_code == 200 and 'id="edit-form"' in ok.text
    unknown = client.get("/studio/AAAAAAAAAAAAAAAA", headers={"Accept": "text/html"})
    assert unknown.status_code == 404 and "Video not found" in unknown.text


def _principal(
    user_id: str, *, admin: bool = False, scopes: frozenset[str] = ALL_SCOPES
) -> Principal:
    return Principal(id=user_id, username=user_id, is_admin=admin, scopes=scopes, via="session")


def test_can_edit_follows_the_policy() -> None:
    view = VideoView.model_validate(
        {
            "id": "v",
            "title": "t",
            "filename": "t.mp4",
            "visibility": "private",
            "owner_id": "alice",
            "status": "ready",
            "error": None,
            "duration_s": 1.0,
            "width": None,
            "height": None,
            "published_rev": None,
            "renditions": [],
            "job": None,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "ready_at": None,
        }
    )
    assert can_edit(_principal("alice"), view)
    assert not can_edit(_principal("bob"), view)
    assert can_edit(_principal("root", admin=True), view)
    assert not can_edit(None, view)
    assert not can_edit(_principal("alice", scopes=frozenset({"read"})), view)  # read-only token
