"""A small published HLS video on a shared data dir, and real ``reelstream origin`` processes.

The origins share one data dir (database, local storage, the generated signing key), as a fleet
shares its database and object store. A "published" rev is written straight into the store
(``videos/{vid}/r/{rev}/``): the origin never consults the database for media, so that is all a
published video is to it. Fetches that reach an origin are counted from its ``/metrics``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reelstream.auth.tokens import TokenSigner
from reelstream.config import Settings
from reelstream.devcluster.process import free_port, stop_process
from reelstream.ids import new_id, new_rev
from reelstream.storage.keys import rev_prefix
from tests.fixtures.nginx import require_nginx
from tests.support import FFMPEG, server_env, wait_ready

MASTER = (
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=320x180,CODECS="avc1.42c00d,mp4a.40.2"\n'
    "v180/index.m3u8\n"
)


@pytest.fixture(scope="session")
def hls_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 4 s fMP4 HLS rendition made by ffmpeg: master, playlist, init, 8 segments."""
    out = tmp_path_factory.mktemp("hls")
    (out / "v180").mkdir()
    cmd = [FFMPEG, "-nostdin", "-y", "-loglevel", "error"]
    cmd += ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=4"]
    cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-pix_fmt", "yuv420p"]
    cmd += ["-c:a", "aac", "-b:a", "64k", "-f", "hls", "-hls_time", "0.5"]
    cmd += ["-hls_playlist_type", "vod", "-hls_segment_type", "fmp4"]
    cmd += ["-hls_fmp4_init_filename", "init.mp4"]
    cmd += ["-hls_segment_filename", "v180/seg_%05d.m4s", "v180/index.m3u8"]
    subprocess.run(cmd, check=True, timeout=300, cwd=out)
    (out / "master.m3u8").write_text(MASTER)
    return out


@dataclass
class Published:
    """One published rev: its files (path below the rev folder -> bytes)."""

    video_id: str
    rev: str
    files: dict[str, bytes]

    def url(self, token: str, path: str) -> str:
        return f"/media/{self.video_id}/{self.rev}/{token}/{path}"

    @property
    def segments(self) -> list[str]:
        return sorted(p for p in self.files if p.endswith(".m4s"))

    @property
    def playlists(self) -> list[str]:
        return sorted(p for p in self.files if p.endswith(".m3u8"))


@dataclass
class MediaSite:
    """The shared data dir: its signing keys, and a way to publish fresh (uncached) revs."""

    data_dir: Path
    settings: Settings
    hls_tree: Path
    published: list[Published] = field(default_factory=list)

    @property
    def keys(self) -> dict[str, str]:
        return {k: v.get_secret_value() for k, v in self.settings.signing_keys.items()}

    @property
    def signer(self) -> TokenSigner:
        return TokenSigner(self.keys, self.settings.signing_key_id)

    def token(self, video_id: str, ttl: float = 3600) -> str:
        return self.signer.sign(video_id, int(time.time() + ttl))

    def publish(self, video_id: str | None = None) -> Published:
        """Copy the HLS tree into the store as a new rev, as a worker's publish leaves it."""
        vid, rev = video_id or new_id(), new_rev()
        dest = self.settings.resolved_storage_root / rev_prefix(vid, rev)
        shutil.copytree(self.hls_tree, dest)
        files = {
            p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()
        }
        pub = Published(vid, rev, files)
        self.published.append(pub)
        return pub


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, hls_tree: Path) -> MediaSite:
    require_nginx()  # skip (or fail in CI) before starting any origin
    data_dir = tmp_path_factory.mktemp("edge-data")
    settings = Settings(env="development", data_dir=data_dir, _env_file=None)
    settings.prepare()  # generates <data_dir>/secrets/signing.key, which the origins then read
    return MediaSite(data_dir, settings, hls_tree)


@dataclass
class Origin:
    """A real ``reelstream origin`` process."""

    base_url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def address(self) -> str:
        return self.base_url.removeprefix("http://")

    def media_fetches(self) -> int:
        """Requests this origin has answered on its /media routes (any status)."""
        text = httpx.get(f"{self.base_url}/metrics", timeout=10).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "reelstream_http_requests_total" and sample.labels.get(
                    "route", ""
                ).startswith("/media"):
                    total += sample.value
        return int(total)

    def kill(self) -> None:
        """SIGKILL: the origin dies without closing a connection politely."""
        self.proc.kill()
        self.proc.wait(20)


def start_origin(data_dir: Path, log_dir: Path, **settings: object) -> Origin:
    """``settings``: extra ``REELSTREAM_*`` values (``access_log=True``...)."""
    port = free_port()
    log_path = log_dir / f"origin-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reelstream", "origin", "--port", str(port)],
            env=server_env(data_dir, **settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, proc, log_path, timeout=90)
    except BaseException:
        stop_process(proc)
        raise
    return Origin(base_url, proc, log_path)


OriginsFactory = Callable[..., list[Origin]]
"""``(n, **settings)``: start ``n`` origins with these extra settings."""


@pytest.fixture
def origins_factory(
    site: MediaSite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OriginsFactory]:
    """Start N fresh origins on the shared data dir (one after another: the first migrates the
    database); they are stopped after the test, whatever state the test left them in."""
    started: list[Origin] = []

    def start(n: int, **settings: object) -> list[Origin]:
        log_dir = tmp_path_factory.mktemp("origin-logs")
        new = []
        for _ in range(n):
            new.append(start_origin(site.data_dir, log_dir, **settings))
            started.append(new[-1])
        return new

    yield start
    for origin in started:
        stop_process(origin.proc)


@pytest.fixture(scope="module")
def origins(site: MediaSite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Origin]]:
    """Two origins shared by the tests of a module that never stop them."""
    log_dir = tmp_path_factory.mktemp("origin-logs")
    started: list[Origin] = []
    try:
        for _ in range(2):
            started.append(start_origin(site.data_dir, log_dir))
        yield started
    finally:
        for origin in started:
            stop_process(origin.proc)


def total_fetches(origins: list[Origin]) -> int:
    return sum(o.media_fetches() for o in origins)
