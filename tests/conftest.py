from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reelstream.app import create_app
from reelstream.config import Settings
from reelstream.db.migrate import upgrade
from tests.support import make_clip, sign_in

pytest_plugins = [
    "tests.fixtures.clips",
    "tests.fixtures.postgres",
    "tests.fixtures.redis",
    "tests.fixtures.s3",
    "tests.fixtures.nginx",
]


ENGINE_FIXTURES = frozenset(
    {
        "pg_template",
        "pg_primary",
        "pg_replica",
        "pg_url",
        "pg_urls",
        "pg_cluster_factory",
        "redis_server",
        "redis_url",
        "own_redis",
        "swift",
        "s3_settings",
        "edge_factory",
    }
)
"""Fixtures that start a real engine; a test using one (or parametrised onto one) is marked
``engine``, so ``make test-fast`` can leave it out."""
ENGINE_PARAMS = frozenset({"postgres", "redis", "s3"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = set(re.split(r"[-\[\]]", callspec.id)) if callspec is not None else set()
        if names & ENGINE_FIXTURES or params & ENGINE_PARAMS:
            item.add_marker(pytest.mark.engine)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated to head once per session (per xdist worker). Each test's
    ``settings`` starts from a copy of it, so the app's start-up migration finds the schema at
    head (~10 ms) instead of building it (~120 ms); tests/db covers migrating from nothing."""
    path = tmp_path_factory.mktemp("template") / "reelstream.db"
    upgrade(f"sqlite+aiosqlite:///{path.resolve()}")
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_db: Path) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(migrated_db, data / "reelstream.db")
    return Settings(
        env="development",
        data_dir=tmp_path / "data",
        embedded_workers=False,
        lease_s=4,
        heartbeat_s=1,
        reaper_interval_s=1,
        poll_interval_s=0.2,
        retry_base_s=0.5,
        dev_admin=False,  # hashing a password per test costs time; tests/auth covers it
        _env_file=None,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The whole app in-process (no background workers), lifespan run, schema migrated.

    The client is signed in: every request carries the access token (``write`` scope) of the
    user ``owner``, who therefore owns what the test uploads. ``anon`` (below) sends no
    credential; ``client.app.state.owner_token`` is the token."""
    with TestClient(create_app(settings)) as c:
        c.app.state.owner_token = sign_in(c)  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def anon(client: TestClient) -> TestClient:
    """The same app as ``client``, without credentials."""
    other = TestClient(client.app)
    other.portal = client.portal
    return other


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip(media_dir: Path) -> Path:
    """6 s, 640x360, 30 fps, H.264 + AAC: the standard end-to-end source."""
    return make_clip(media_dir / "clip.mp4")
