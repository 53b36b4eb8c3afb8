"""Signed URLs never reflect the request's Host: production needs ``public_base_url``, and with
it every URL the API hands out is built on it, whatever Host a client sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.config import Settings
from reelstream.errors import ConfigError
from tests.support import sign_in
from tests.videos.factories import create_video, publish_fake

BASE = "https://videos.example.com"
FORGED_HOSTS = ["evil.example", "evil.example:8443", "127.0.0.1:1", "[::1]", "a.b@evil.example"]


def _production(tmp_path: Path, **kw: object) -> Settings:
    return Settings(
        env="production",
        data_dir=tmp_path / "data",
        embedded_workers=False,
        dev_admin=False,
        _env_file=None,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "videos.internal"])
def test_production_without_public_base_url_fails_at_startup(tmp_path: Path, host: str) -> None:
    """Listening anywhere but on loopback, production needs the setting."""
    with pytest.raises(ConfigError, match="REELSTREAM_PUBLIC_BASE_URL"):
        create_app(_production(tmp_path, host=host))
    with pytest.raises(ConfigError, match="public_base_url"):
        create_app(_production(tmp_path, host=host), role="api")
    create_app(_production(tmp_path, host=host), role="origin")  # signs nothing: no need


@pytest.mark.parametrize(
    ("host", "base"),
    [
        ("127.0.0.1", "http://127.0.0.1:8123"),
        ("::1", "http://[::1]:8123"),
        ("localhost", "http://localhost:8123"),
    ],
)
def test_a_loopback_only_server_signs_urls_on_its_own_address(
    tmp_path: Path, host: str, base: str
) -> None:
    """``reelstream serve`` as it comes (production, 127.0.0.1) starts, and its signed URLs use
    the address it listens on, never the request's Host."""
    settings = _production(tmp_path, host=host, port=8123)
    with TestClient(create_app(settings)) as c:
        assert settings.public_base_url == base
        sign_in(c)
        services = c.app.state.services  # type: ignore[attr-defined]
        assert c.portal is not None
        vid = c.portal.call(create_video, services, "clip")
        c.portal.call(publish_fake, services, vid)
        body = c.get(f"/api/v1/videos/{vid}/playback", headers={"Host": "evil.example"}).json()
        assert body["hls_url"].startswith(f"{base}/media/{vid}/"), body


def test_development_needs_no_public_base_url(tmp_path: Path) -> None:
    settings = Settings(env="development", data_dir=tmp_path / "data", _env_file=None)
    settings.require_public_base_url()


@pytest.fixture
def production(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_production(tmp_path, public_base_url=BASE + "/"))) as c:
        sign_in(c)
        yield c


@pytest.mark.parametrize("host", FORGED_HOSTS)
def test_a_forged_host_never_appears_in_signed_urls(production: TestClient, host: str) -> None:
    services = production.app.state.services  # type: ignore[attr-defined]
    assert production.portal is not None
    vid = production.portal.call(create_video, services, "clip")
    production.portal.call(publish_fake, services, vid)
    for path in (f"/api/v1/videos/{vid}/playback", f"/api/v1/videos/{vid}", "/api/v1/videos"):
        r = production.get(path, headers={"Host": host})
        assert r.status_code == 200, r.text
        assert "evil" not in r.text and "127.0.0.1" not in r.text and "[::1]" not in r.text
    body = production.get(f"/api/v1/videos/{vid}/playback", headers={"Host": host}).json()
    assert body["hls_url"].startswith(f"{BASE}/media/{vid}/")


@pytest.mark.parametrize(
    "value",
    ["ftp://videos.example.com", "videos.example.com", "https://", "https://u:p@x.example",
     "https://x.example/?next=evil", "https://x.example/#f", "https://x .example"],
)  # fmt: skip
def test_a_malformed_public_base_url_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match="base URL"):
        _production(tmp_path, public_base_url=value)


def test_public_base_url_is_normalised(tmp_path: Path) -> None:
    assert _production(tmp_path, public_base_url=" https://x.example/v/ ").public_base_url == (
        "https://x.example/v"
    )
    assert _production(tmp_path, public_base_url="").public_base_url is None
