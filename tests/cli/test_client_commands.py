"""``reelstream upload`` and ``reelstream videos`` against a real server process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from reelstream.cli.main import main
from reelstream.cli.upload import ByteSize
from reelstream.devcluster.process import free_port
from tests.support import ADMIN_HEADERS, ADMIN_TOKEN, Server, run_server

pytestmark = pytest.mark.e2e

MAX_UPLOAD = 64 * 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0", **ADMIN_HEADERS}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("cli-server")
    with run_server(data_dir, embedded_workers=False, max_upload_bytes=MAX_UPLOAD) as srv:
        yield srv


def _env(state: Path, token: str | None = ADMIN_TOKEN) -> dict[str, str]:
    """The CLI's environment; the token (REELSTREAM_TOKEN) is the test server's admin's."""
    env = dict(os.environ)
    env["REELSTREAM_CLIENT_STATE"] = str(state)
    env.pop("REELSTREAM_SERVER", None)
    env.pop("REELSTREAM_TOKEN", None)
    if token is not None:
        env["REELSTREAM_TOKEN"] = token
    env["COLUMNS"] = "200"
    return env


def cli(
    state: Path, *args: str, timeout: float = 180, token: str | None = ADMIN_TOKEN
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelstream", *args],
        env=_env(state, token),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _video_id(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, out.stderr
    match = re.search(r"^video\s+([A-Za-z0-9]{16})$", out.stdout, re.MULTILINE)
    assert match, out.stdout
    return match.group(1)


def _source(server: Server, video_id: str) -> bytes:
    return (server.data_dir / "storage" / "videos" / video_id / "source").read_bytes()


def _listed(server: Server, state: Path) -> list[dict[str, object]]:
    """The uploader's own videos, every status (a still-processing video is not public yet)."""
    out = cli(state, "videos", "--mine", "--server", server.base_url, "--json", "--limit", "500")
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)
    assert isinstance(items, list)
    return items


def _stored_urls(state: Path) -> list[str]:
    path = state / "uploads.json"
    if not path.exists():
        return []
    try:
        table = json.loads(path.read_text() or "{}").get("_default", {})
    except json.JSONDecodeError:  # being written right now
        return []
    return [row["url"] for row in table.values() if not row["key"].startswith("video-id|")]


def _random_file(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 1024 * 1024))
            fh.write(block)
            left -= len(block)
    return path


def test_upload_prints_the_video_and_stores_the_exact_bytes(
    server: Server, clip: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    out = cli(
        state,
        "upload",
        str(clip),
        "--server",
        server.base_url,
        "--token",  # given as an option here, from REELSTREAM_TOKEN in the other tests
        ADMIN_TOKEN,
        "--title",
        "CLI <clip> ü",
        "--chunk-size",
        "256K",
    )
    vid = _video_id(out)
    assert f"watch  {server.base_url}/watch/{vid}" in out.stdout
    assert _source(server, vid) == clip.read_bytes()
    assert _stored_urls(state) == []  # finished uploads are forgotten

    listed = {v["id"]: v for v in _listed(server, state)}
    assert listed[vid]["title"] == "CLI <clip> ü"
    assert listed[vid]["visibility"] == "public"
    assert listed[vid]["filename"] == clip.name
    assert listed[vid]["status"] in {"queued", "processing", "ready"}

    table = cli(state, "videos", "--mine", "--server", server.base_url)
    assert table.returncode == 0, table.stderr
    assert vid in table.stdout and "CLI <clip> ü" in table.stdout


def test_interrupted_upload_resumes_where_the_server_stopped(
    server: Server, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    size = 32 * 1024 * 1024
    source = _random_file(tmp_path / "resume-me.bin", size)
    args = [sys.executable, "-m", "reelstream", "upload", str(source)]
    args += ["--server", server.base_url, "--chunk-size", "64K"]

    first = subprocess.Popen(
        args, env=_env(state), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    offset = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and offset == 0:
            assert first.poll() is None, "the upload ended before it could be interrupted"
            urls = _stored_urls(state)
            if urls:
                r = httpx.head(urls[0], headers=TUS, timeout=10)
                offset = int(r.headers.get("upload-offset", 0))
            if offset == 0:
                time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait(30)
    assert offset > 0, "the first run never sent a byte"

    # What the server holds durably after the client died (settles once the dropped request ends).
    [url] = _stored_urls(state)
    time.sleep(1.0)
    held = int(httpx.head(url, headers=TUS, timeout=10).headers["upload-offset"])
    assert 0 < held < size, f"expected a partial upload, the server holds {held} of {size}"

    second = cli(state, "upload", str(source), "--server", server.base_url, "--chunk-size", "1M")
    vid = _video_id(second)
    match = re.search(r"resuming at (\d+) of (\d+) bytes", second.stderr)
    assert match, second.stderr
    assert int(match.group(1)) == held and int(match.group(2)) == size
    assert _source(server, vid) == source.read_bytes()
    same_file = [v for v in _listed(server, state) if v["filename"] == source.name]
    assert [v["id"] for v in same_file] == [vid], "the second run created another upload"


def test_upload_needs_a_token_and_users_create_prints_one(
    server: Server, clip: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    out = cli(state, "upload", str(clip), "--server", server.base_url, token=None)
    assert out.returncode == 1
    assert "HTTP 401" in out.stderr and "Traceback" not in out.stderr, out.stderr

    created = subprocess.run(
        [sys.executable, "-m", "reelstream", "users", "create", "Carol", "--password-stdin"],
        env={**_env(state), "REELSTREAM_DATA_DIR": str(server.data_dir)},
        input="correct horse battery\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert re.fullmatch(r"rs_[A-Za-z0-9_-]{43}", token), created.stdout
    me = httpx.get(
        f"{server.base_url}/api/v1/videos",
        params={"owner": "me"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert me.status_code == 200 and me.json()["items"] == []

    vid = _video_id(cli(state, "upload", str(clip), "--server", server.base_url, token=token))
    mine = cli(state, "videos", "--server", server.base_url, "--mine", "--json", token=token)
    assert mine.returncode == 0, mine.stderr
    assert [v["id"] for v in json.loads(mine.stdout)] == [vid]
    again = subprocess.run(
        [sys.executable, "-m", "reelstream", "users", "create", "carol"],
        env={**_env(state), "REELSTREAM_DATA_DIR": str(server.data_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 1 and "taken" in again.stderr, again.stderr


def test_a_refused_upload_shows_the_server_reason(server: Server, tmp_path: Path) -> None:
    big = tmp_path / "too-big.bin"
    with big.open("wb") as fh:  # sparse: costs no disk
        fh.truncate(MAX_UPLOAD + 1)
    out = cli(tmp_path / "state", "upload", str(big), "--server", server.base_url)
    assert out.returncode != 0
    assert "HTTP 413" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_commands_fail_cleanly_when_the_server_is_down(clip: Path, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for args in (["upload", str(clip)], ["videos"]):
        out = cli(tmp_path / "state", *args, "--server", dead, timeout=60)
        assert out.returncode == 1, out
        assert f"cannot reach the reelstream server at {dead}" in out.stderr
        assert "Traceback" not in out.stderr


def test_server_comes_from_the_environment(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(main, ["videos"], env={"REELSTREAM_SERVER": dead + "/"})
    assert result.exit_code == 1
    assert f"at {dead}:" in result.output


def test_chunk_size_accepts_human_sizes() -> None:
    size = ByteSize()
    assert size.convert("65536", None, None) == 65536
    assert size.convert("256K", None, None) == 256 * 1024
    assert size.convert("5M", None, None) == 5 * 1024 * 1024
    assert size.convert("1GiB", None, None) == 1024**3
    result = CliRunner().invoke(main, ["upload", __file__, "--chunk-size", "lots"])
    assert result.exit_code == 2
    assert "is not a size" in result.output
