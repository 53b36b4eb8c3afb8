"""What the browser tests share: one headless Chromium per module (``browser``), a fresh
context and page per test that records the console (``page``, read with ``_logs``), and the
steps most tests start with: upload with tuspy, wait for the video to be ready, sign up and sign
in through the real form, wait for the player to play."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from tusclient import client as tus_client

from reelstream.web.render import STATIC_DIR
from tests.support import Server, post_form, require, require_binary, wait_for_status

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
WATCH_URL = re.compile(r"/watch/([A-Za-z0-9]{16})$")
PASSWORD = "a long test password"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = require_binary("chromium")
    vendor = STATIC_DIR / "vendor"
    require(
        (vendor / "hls.min.js").is_file() and (vendor / "tus.min.js").is_file(),
        "the browser libraries in web/static/vendor (run `make assets`)",
    )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    logs: list[str] = []
    pg.on("console", lambda m: logs.append(_console(m)))
    pg.on("pageerror", lambda e: logs.append(f"pageerror: {e}"))
    pg.reelstream_logs = logs  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        context.close()


def _console(message: ConsoleMessage) -> str:
    return f"{message.type}: {message.text}"


def _logs(page: Page) -> str:
    return "\n".join(getattr(page, "reelstream_logs", []))


def tus_upload(server: Server, path: Path, title: str) -> str:
    """Upload with tuspy; the video id comes from the upload's HEAD (Video-Id)."""
    with path.open("rb") as stream:  # tuspy leaves files it opens itself unclosed
        client = tus_client.TusClient(f"{server.base_url}/api/v1/uploads", headers=server.headers)
        uploader = client.uploader(
            file_stream=stream,
            chunk_size=512 * 1024,
            metadata={"filename": path.name, "title": title, "visibility": "public"},
        )
        uploader.upload()
    assert uploader.url
    head = httpx.head(
        uploader.url, headers={"Tus-Resumable": "1.0.0", **server.headers}, timeout=10
    )
    assert head.status_code == 200, head.text
    assert int(head.headers["upload-offset"]) == path.stat().st_size
    video_id = head.headers.get("video-id")
    assert video_id, dict(head.headers)
    return str(video_id)


def upload_ready(server: Server, path: Path, title: str) -> tuple[str, dict[str, object]]:
    """``tus_upload``, then wait until the server has transcoded it: the video id and JSON."""
    vid = tus_upload(server, path, title)
    video = wait_for_status(server.base_url, vid, {"ready", "failed"}, timeout=300)
    assert video["status"] == "ready", f"{video}\n{server.log()}"
    return vid, video


def wait_playing(page: Page, server: Server, seconds: float = 2) -> None:
    """Wait until the page's video has played past ``seconds``; fail with the player's fatal
    error, the console and the server log otherwise."""
    try:
        page.wait_for_function(
            "t => { const v = document.querySelector('video'); return v && v.currentTime > t; }",
            arg=seconds,
            timeout=90_000,
        )
    except Exception:
        fatal = page.evaluate("() => window.reelstreamPlayer && window.reelstreamPlayer.fatalError")
        pytest.fail(f"the video did not play (fatal: {fatal})\n{_logs(page)}\n{server.log()}")


def sign_up(server: Server, username: str) -> None:
    """Create an account through the sign-up form's endpoint (no browser involved)."""
    with httpx.Client(base_url=server.base_url, timeout=30) as c:  # keeps the form cookie
        r = post_form(c, "/signup", {"username": username, "password": PASSWORD})
    assert r.status_code == 303, r.text


def log_in(page: Page, server: Server, username: str, next_path: str = "/") -> None:
    """Sign in through the real /login form."""
    page.goto(f"{server.base_url}/login?next={next_path}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_url(re.compile(re.escape(server.base_url + next_path) + r"$"))
    assert page.locator("#nav-account").inner_text() == username


def signed_in(page: Page, server: Server, username: str = "uploader") -> None:
    sign_up(server, username)
    log_in(page, server, username)


def admin_password(server: Server) -> str:
    """The development admin's password, as the server logged it at its first start."""
    match = re.search(r"username 'admin' password '([^']+)'", server.log_path.read_text())
    assert match, "the development admin's password is not in the server log"
    return match.group(1)


def sign_in_admin(page: Page, server: Server, next_path: str = "/") -> None:
    """Sign in as the development admin through the real /login form."""
    page.goto(f"{server.base_url}/login?next={next_path}")
    page.fill("#username", "admin")
    page.fill("#password", admin_password(server))
    page.click("#login-button")
    page.wait_for_url(re.compile(re.escape(server.base_url + next_path) + r"$"))
