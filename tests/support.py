"""Helpers shared by the tests: test media made with ffmpeg, servers, service requirements.

Processes are spawned, awaited and stopped with the local cluster's own helpers
(``reelstream.devcluster.process``), so tests and ``reelstream cluster up`` share one code path.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import httpx
import httpx2
import imageio_ffmpeg
import pytest
from fastapi.testclient import TestClient

from reelstream.devcluster.process import exited, free_port, spawn, stop_process, wait_until, which

IN_CI = bool(os.environ.get("CI"))
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
ADMIN_TOKEN = "rs_" + secrets.token_urlsafe(32)
"""The admin token every real test server (``server_env``) is started with
(``bootstrap_admin_token``, a development-only setting)."""
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def require(available: bool, what: str) -> None:
    """Skip when a real service/binary is missing locally; fail when it is missing in CI."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not installed (.ci/run must install it)")
    pytest.skip(f"{what} is not installed on this machine")


def require_binary(name: str) -> str:
    path = which(name)
    require(path is not None, f"the {name!r} binary")
    assert path
    return path


def make_clip(
    path: Path,
    *,
    seconds: float = 6,
    width: int = 640,
    height: int = 360,
    fps: str = "30",
    audio: bool = True,
    extra: list[str] | None = None,
) -> Path:
    """Generate a test clip with ffmpeg: moving test pattern, optional sine tone, H.264/AAC."""
    cmd = [FFMPEG, "-nostdin", "-y", "-loglevel", "error"]
    cmd += ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "96k"]
    cmd += extra or []
    cmd += [str(path)]
    subprocess.run(cmd, check=True, timeout=300)
    return path


def media_duration(url_or_path: str, input_args: tuple[str, ...] = ()) -> float:
    """Decode a whole stream with ffmpeg, failing on any decode error; return the duration
    of the decoded video (the last timestamp ffmpeg reports). ``input_args`` go before
    ``-i``."""
    argv = [FFMPEG, "-nostdin", "-xerror", *input_args, "-i", url_or_path]
    out = subprocess.run(
        [*argv, "-map", "0:v:0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, f"ffmpeg could not decode {url_or_path}: {out.stderr[-2000:]}"
    times = re.findall(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)", out.stderr)
    assert times, out.stderr[-2000:]
    h, m, s = times[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def playlist_uris(text: str) -> list[str]:
    """Every URI a playlist names: plain lines and URI="..." attributes."""
    uris = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            uris += re.findall(r'URI="([^"]+)"', line)
        else:
            uris.append(line)
    return uris


@dataclass
class Server:
    """A real ``reelstream`` process on a free loopback port."""

    base_url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    token: str = ADMIN_TOKEN

    @property
    def headers(self) -> dict[str, str]:
        """Authenticates as the server's development admin."""
        return {"Authorization": f"Bearer {self.token}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


def server_env(data_dir: Path, **settings: object) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "REELSTREAM_ENV": "development",
            "REELSTREAM_DATA_DIR": str(data_dir),
            "REELSTREAM_HTTP_WORKERS": "1",  # one server process unless a test asks for more
            "REELSTREAM_LEASE_S": "6",
            "REELSTREAM_HEARTBEAT_S": "1",
            "REELSTREAM_REAPER_INTERVAL_S": "1",
            "REELSTREAM_POLL_INTERVAL_S": "0.5",
            "REELSTREAM_RETRY_BASE_S": "1",
            "REELSTREAM_LOG_LEVEL": "INFO",
            "REELSTREAM_BOOTSTRAP_ADMIN_TOKEN": ADMIN_TOKEN,
        }
    )
    env.update({f"REELSTREAM_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def wait_ready(
    base_url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 60
) -> None:
    """Wait until the server answers ``/readyz`` with 200; fail early if it exits."""
    wait_until(
        lambda: httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200,
        timeout=timeout,
        what=f"server {base_url}",
        failed=exited(proc, log_path),
        interval=0.2,
    )


@contextmanager
def run_server(data_dir: Path, **settings: object) -> Iterator[Server]:
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    log_path.unlink(missing_ok=True)  # one log per server run
    argv = [sys.executable, "-m", "reelstream", "serve", "--port", str(port)]
    proc = spawn(argv, log_path, env=server_env(data_dir, **settings))
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, proc, log_path)
        yield Server(base_url, data_dir, proc, log_path)
    finally:
        stop_process(proc)


@contextmanager
def run_worker(data_dir: Path, **settings: object) -> Iterator[subprocess.Popen[bytes]]:
    log_path = data_dir / f"worker-{time.monotonic_ns()}.log"
    proc = spawn(
        [sys.executable, "-m", "reelstream", "worker"],
        log_path,
        env=server_env(data_dir, **settings),
    )
    try:
        yield proc
    finally:
        stop_process(proc)


def wait_for_status(
    base_url: str,
    video_id: str,
    statuses: set[str],
    timeout: float = 180,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Poll the video until its status is one of ``statuses``; as the test servers' admin
    unless other ``headers`` are given."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = httpx.get(
            f"{base_url}/api/v1/videos/{video_id}",
            headers=ADMIN_HEADERS if headers is None else headers,
            timeout=10,
        )
        assert r.status_code == 200, r.text
        last = r.json()
        if last["status"] in statuses:
            return last
        time.sleep(0.3)
    raise AssertionError(f"video {video_id} never reached {statuses}; last state: {last}")


def create_account(
    client: TestClient,
    username: str,
    *,
    admin: bool = False,
    scopes: tuple[str, ...] = ("write",),
    password: str | None = None,
) -> str:
    """Create a user (through the services of the in-process app) and return a new personal
    access token of it with ``scopes``."""
    from reelstream.auth.accounts import create_user
    from reelstream.auth.tokens_api import create_token

    services = client.app.state.services  # type: ignore[attr-defined]

    async def create() -> str:
        async with services.db.transaction() as s:
            user = await create_user(s, username, password, is_admin=admin)
            plain, _ = await create_token(s, user, "tests", scopes)
        return plain

    assert client.portal is not None, "use the TestClient as a context manager"
    return client.portal.call(create)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(client: TestClient, username: str = "owner", **kwargs: Any) -> str:
    """Create ``username`` (see ``create_account``) and make ``client`` send its token."""
    token = create_account(client, username, **kwargs)
    client.headers.update(bearer(token))
    return token


# What users read when a FaultyFFmpeg command fails (exit status 1: not known to be permanent,
# so it is retried); ffmpeg's own text ("simulated encoder failure") stays in the server log.
FAULTY_REASON = "the encoder failed (exit status 1)"


class FaultyFFmpeg:
    """A wrapper around the real ffmpeg that fails every command one of whose arguments
    contains the marker it was told, the way a broken encoder would (``fail_on``: exit 1 with a
    message on stderr), or the way ffmpeg refuses an input for good (``reject_on``: the real
    ffmpeg runs a command it rejects as invalid, exit status 234 = EINVAL, with its own text:
    ``[out#0/image2 @ 0x…] Nothing was written…``). Everything else runs the real ffmpeg
    (``exec``: same process)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.flag = folder / "fail-on"
        self.reject_flag = folder / "reject-on"
        self.path = folder / "ffmpeg"
        rejected = (
            f'exec "{FFMPEG}" -nostdin -hide_banner -y -f lavfi'
            " -i testsrc=size=320x240:rate=25:duration=0.52 -vf fps=fps=1/1:round=down"
            f' -f image2 "{folder}/never_%05d.jpg"'
        )
        self.path.write_text(
            "#!/bin/sh\n"
            f'if [ -s "{self.flag}" ]; then\n'
            f'  marker=$(cat "{self.flag}")\n'
            '  for a in "$@"; do\n'
            '    case "$a" in *"$marker"*)\n'
            '      echo "simulated encoder failure ($marker)" >&2; exit 1;;\n'
            "    esac\n"
            "  done\n"
            "fi\n"
            f'if [ -s "{self.reject_flag}" ]; then\n'
            f'  marker=$(cat "{self.reject_flag}")\n'
            '  for a in "$@"; do\n'
            f'    case "$a" in *"$marker"*) {rejected};;\n'
            "    esac\n"
            "  done\n"
            "fi\n"
            f'exec "{FFMPEG}" "$@"\n'
        )
        self.path.chmod(0o755)

    def fail_on(self, marker: str) -> None:
        self.flag.write_text(marker)

    def reject_on(self, marker: str) -> None:
        self.reject_flag.write_text(marker)

    def heal(self) -> None:
        self.flag.unlink(missing_ok=True)
        self.reject_flag.unlink(missing_ok=True)


def csrf_of(html: str) -> str:
    """The session's CSRF token, from a page's ``<meta name="csrf-token">``."""
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "the page has no CSRF meta tag"
    return match.group(1)


def form_token_of(html: str) -> str:
    """The pre-session token of a sign-in or sign-up form (its hidden ``csrf_token``)."""
    match = re.search(
        r'id="(?:login|signup)-form">\s*<input type="hidden" name="csrf_token" value="([^"]+)">',
        html,
    )
    assert match, "the page has no sign-in or sign-up form token"
    return match.group(1)


@overload
def post_form(
    client: TestClient, path: str, data: dict[str, str], **kwargs: Any
) -> httpx2.Response: ...
@overload
def post_form(
    client: httpx.Client, path: str, data: dict[str, str], **kwargs: Any
) -> httpx.Response: ...
def post_form(
    client: TestClient | httpx.Client, path: str, data: dict[str, str], **kwargs: Any
) -> httpx.Response | httpx2.Response:
    """POST the sign-in or sign-up form the way a browser does: GET the form first (which sets
    the pre-session cookie in ``client``), then send its fields with the form's token."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={**data, "csrf_token": form_token_of(page.text)}, **kwargs)


def sign_up_session(client: TestClient, username: str, password: str) -> str:
    """Sign up through the ``/signup`` form, so that ``client`` keeps a session cookie (like a
    browser); returns the session's CSRF token."""
    r = post_form(
        client,
        "/signup",
        {"username": username, "password": password},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/account").text)
