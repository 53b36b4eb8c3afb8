"""The embed page (``/embed/{id}``) and oEmbed (``/oembed``), in-process (reelstream.web.embed):
who sees what, the iframe snippet and its size, the discovery link on the watch page, and the
errors the oEmbed spec asks for. The embed page playing in another site's iframe: tests/browser/
test_player_controls.py."""

from __future__ import annotations

import functools
from urllib.parse import quote

from fastapi.testclient import TestClient

from reelstream.config import Settings
from reelstream.services import Services
from tests.videos.factories import create_video, publish_fake

BASE = "http://testserver"


def _services(client: TestClient) -> Services:
    return client.app.state.services  # type: ignore[attr-defined,no-any-return]


def _video(
    client: TestClient, title: str, *, visibility: str = "public", ready: bool = True
) -> str:
    assert client.portal is not None
    make = functools.partial(create_video, _services(client), title, visibility=visibility)
    vid = str(client.portal.call(make))
    if ready:
        client.portal.call(publish_fake, _services(client), vid)
    return vid


def _oembed(client: TestClient, url: str, **params: str) -> tuple[int, dict[str, object]]:
    r = client.get("/oembed", params={"url": url, **params})
    assert r.headers["content-type"].startswith("application/json"), r.text
    return r.status_code, r.json()


def test_the_embed_page_by_visibility(client: TestClient, anon: TestClient) -> None:
    public = _video(client, "Open <b>house</b>")
    private = _video(client, "Secret plans", visibility="private")
    processing = _video(client, "Still cooking", ready=False)

    r = anon.get(f"/embed/{public}")
    assert r.status_code == 200
    assert '<media-controller class="player" id="media"' in r.text
    assert '<video id="player"' in r.text and "site-header" not in r.text
    assert "Open &lt;b&gt;house&lt;/b&gt;" in r.text
    assert 'id="embed-processing" hidden' in r.text
    assert '<script type="module" src="/static/embed.js"></script>' in r.text

    r = anon.get(f"/embed/{private}")
    assert r.status_code == 403  # no redirect to the sign-in page: that page cannot be framed
    assert "This video is private" in r.text and "Secret plans" not in r.text
    assert "<video" not in r.text
    assert client.get(f"/embed/{private}").status_code == 200  # its owner

    r = anon.get("/embed/AAAAAAAAAAAAAAAA")
    assert r.status_code == 404 and "Video not found" in r.text

    r = anon.get(f"/embed/{processing}")
    assert r.status_code == 200
    assert "This video is processing" in r.text
    assert 'data-playable="false"' in r.text


def test_oembed_describes_public_and_unlisted_videos(client: TestClient, anon: TestClient) -> None:
    for visibility in ("public", "unlisted"):
        vid = _video(client, f"Talk <{visibility}>", visibility=visibility)
        for url in (f"{BASE}/watch/{vid}", f"{BASE}/embed/{vid}?t=3"):
            status, body = _oembed(anon, url, format="json")
            assert status == 200, body
            assert body["version"] == "1.0" and body["type"] == "video"
            assert body["provider_name"] == "reelstream"
            assert body["provider_url"] == f"{BASE}/"
            assert body["title"] == f"Talk <{visibility}>"
            assert body["author_name"] == "owner"
            assert (body["width"], body["height"]) == (640, 360)  # 16:9 when unknown
            html = str(body["html"])
            assert html.startswith(f'<iframe src="{BASE}/embed/{vid}" width="640" height="360"')
            assert 'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen' in html
            assert f"Talk &lt;{visibility}&gt;" in html  # the title attribute is escaped
            thumbnail = str(body["thumbnail_url"])
            assert thumbnail.startswith(f"{BASE}/media/{vid}/") and thumbnail.endswith(".jpg")
            assert (body["thumbnail_width"], body["thumbnail_height"]) == (640, 360)
            assert anon.get(thumbnail).status_code == 200

    # maxwidth / maxheight keep the aspect ratio
    status, body = _oembed(anon, f"{BASE}/watch/{vid}", maxwidth="320")
    assert (status, body["width"], body["height"]) == (200, 320, 180)
    status, body = _oembed(anon, f"{BASE}/watch/{vid}", maxwidth="1000", maxheight="90")
    assert (status, body["width"], body["height"]) == (200, 160, 90)


def test_oembed_refuses_what_it_must_not_describe(client: TestClient, anon: TestClient) -> None:
    private = _video(client, "Secret plans", visibility="private")
    public = _video(client, "Open")
    for who in (anon, client):  # not even for its owner: an embed of it would not play
        status, body = _oembed(who, f"{BASE}/watch/{private}")
        assert status == 404 and "Secret" not in str(body), body
    status, body = _oembed(anon, f"{BASE}/watch/AAAAAAAAAAAAAAAA")
    assert status == 404 and body["error"]["code"] == "not_found"  # type: ignore[index]
    for url in (f"https://elsewhere.example/watch/{public}", f"{BASE}/videos/{public}",
                "not a url", f"ftp://testserver/watch/{public}"):  # fmt: skip
        status, body = _oembed(anon, url)
        assert status == 400, (url, body)
        assert "this site" in body["error"]["message"]  # type: ignore[index]
    status, body = _oembed(anon, f"{BASE}/watch/{public}", format="xml")
    assert status == 501, body
    assert anon.get("/oembed").status_code == 422  # no url at all


def test_the_watch_page_links_its_oembed(client: TestClient) -> None:
    public = _video(client, "Open")
    private = _video(client, "Mine", visibility="private")
    page = client.get(f"/watch/{public}").text
    href = f"{BASE}/oembed?url={quote(f'{BASE}/watch/{public}', safe='')}&amp;format=json"
    assert f'<link rel="alternate" type="application/json+oembed" href="{href}"' in page
    assert "json+oembed" not in client.get(f"/watch/{private}").text


def test_absolute_urls_follow_the_public_base_url(settings: Settings) -> None:
    from reelstream.app import create_app
    from tests.support import sign_in

    settings.public_base_url = "https://video.example.com"
    with TestClient(create_app(settings)) as c:
        sign_in(c)
        vid = _video(c, "Open")
        status, body = _oembed(c, f"https://video.example.com/watch/{vid}")
        assert status == 200, body
        assert str(body["html"]).startswith(f'<iframe src="https://video.example.com/embed/{vid}"')
        assert body["provider_url"] == "https://video.example.com/"
        assert str(body["thumbnail_url"]).startswith("https://video.example.com/media/")
        # the request's own host is this site too
        assert _oembed(c, f"{BASE}/watch/{vid}")[0] == 200
