"""Real tus clients against a real ``reelstream serve`` process.

tuspy and tus-js-client upload byte-identical sources; an upload whose connection drops is
resumed; acknowledged bytes survive a SIGKILL of the server; memory stays flat while a
large body streams through.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from tusclient import client as tus_client

import reelstream
from tests.ingest import helpers
from tests.ingest.helpers import OCTETS, file_sha256, metadata
from tests.support import ADMIN_HEADERS, ADMIN_TOKEN, Server, require, require_binary, run_server

TUS = {**helpers.TUS, **ADMIN_HEADERS}  # every request authenticates as the server's admin


def patch_headers(offset: int, **extra: str) -> dict[str, str]:
    return {**helpers.patch_headers(offset, **extra), **ADMIN_HEADERS}


def tus_client_for(endpoint: str) -> tus_client.TusClient:
    return tus_client.TusClient(endpoint, headers=dict(ADMIN_HEADERS))


pytestmark = pytest.mark.e2e

UPLOADS = "/api/v1/uploads"
NODE_MODULES = Path(reelstream.__file__).parent / "web" / "frontend" / "node_modules"


def stored_source(server: Server, video_id: str) -> Path:
    return server.data_dir / "storage" / "videos" / video_id / "source"


def db_one(server: Server, sql: str, *args: object) -> tuple[object, ...] | None:
    con = sqlite3.connect(f"file:{server.data_dir / 'reelstream.db'}?mode=ro", uri=True)
    try:
        row: tuple[object, ...] | None = con.execute(sql, args).fetchone()
        return row
    finally:
        con.close()


def assert_stored(server: Server, video_id: str, original: Path) -> None:
    source = stored_source(server, video_id)
    assert source.is_file(), f"no stored source for {video_id}"
    assert file_sha256(source) == file_sha256(original)
    assert db_one(server, "SELECT status FROM videos WHERE id = ?", video_id) == ("queued",)
    assert db_one(server, "SELECT state FROM jobs WHERE video_id = ?", video_id) == ("queued",)


def head(server: Server, url: str) -> httpx.Response:
    r = httpx.head(server.base_url + urlsplit(url).path, headers=TUS, timeout=30)
    assert r.status_code == 200, r.headers
    return r


def create(server: Server, length: int, filename: str = "big.bin") -> str:
    r = httpx.post(
        server.base_url + UPLOADS,
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(filename=filename),
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return str(r.headers["Location"])


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def test_tuspy_upload_is_byte_identical(tmp_path: Path, clip: Path) -> None:
    with run_server(tmp_path / "data", embedded_workers=False) as server:
        tus = tus_client_for(server.base_url + UPLOADS)
        with clip.open("rb") as fh:  # a stream: tuspy leaks the files it opens itself
            uploader = tus.uploader(
                file_stream=fh,
                chunk_size=256 * 1024,
                metadata={"filename": clip.name, "title": "tuspy upload"},
                upload_checksum=True,  # every PATCH carries a sha1 Upload-Checksum
            )
            uploader.upload()
        assert uploader.url
        h = head(server, uploader.url)
        assert int(h.headers["Upload-Offset"]) == clip.stat().st_size
        video_id = h.headers["Video-Id"]
        assert_stored(server, video_id, clip)
        assert db_one(server, "SELECT title FROM videos WHERE id = ?", video_id) == (
            "tuspy upload",
        )


def send_partial_patch(
    server: Server, path: str, data: bytes, sent: int, offset: int = 0
) -> socket.socket:
    """Start a PATCH at ``offset`` announcing the rest of ``data``; send only ``sent`` bytes."""
    parts = urlsplit(server.base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    request = (
        f"PATCH {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        f"Authorization: Bearer {ADMIN_TOKEN}\r\n"
        f"Upload-Offset: {offset}\r\nContent-Type: {OCTETS}\r\n"
        f"Content-Length: {len(data) - offset}\r\n\r\n"
    )
    sock.sendall(request.encode() + data[offset : offset + sent])
    return sock


def wait_staged(path: Path, minimum: int, timeout: float = 30) -> None:
    """Wait until the staging file holds more than ``minimum`` bytes (written, not acked)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.stat().st_size > minimum:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never grew past {minimum} bytes")


def wait_offset(server: Server, url: str, minimum: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        offset = int(head(server, url).headers["Upload-Offset"])
        if offset >= minimum:
            return offset
        time.sleep(0.1)
    raise AssertionError(f"the offset of {url} never reached {minimum}")


def test_dropped_connection_is_resumed_by_tuspy(tmp_path: Path) -> None:
    source = random_file(tmp_path / "movie.bin", 6 * 1024 * 1024)
    data = source.read_bytes()
    sent = 4 * 1024 * 1024 + 12345
    with run_server(tmp_path / "data", embedded_workers=False) as server:
        url = create(server, len(data), source.name)
        sock = send_partial_patch(server, url, data, sent)
        time.sleep(1.0)  # let the server read what was sent
        sock.close()  # the connection drops mid-PATCH
        offset = wait_offset(server, url, 1)
        assert offset <= sent
        print(f"offset after the dropped connection: {offset} of {sent} sent")
        assert int(head(server, url).headers["Upload-Offset"]) == offset  # stable

        # tuspy asks the server for its offset (HEAD) and sends the rest.
        tus = tus_client_for(server.base_url + UPLOADS)
        with source.open("rb") as fh:
            uploader = tus.uploader(
                file_stream=fh, url=server.base_url + url, chunk_size=512 * 1024
            )
            assert uploader.offset == offset
            uploader.upload()
        h = head(server, url)
        assert h.headers["Upload-Offset"] == str(len(data))
        assert_stored(server, h.headers["Video-Id"], source)


def test_acknowledged_bytes_survive_sigkill(tmp_path: Path) -> None:
    source = random_file(tmp_path / "movie.bin", 3 * 1024 * 1024)
    data = source.read_bytes()
    data_dir = tmp_path / "data"
    acked = 1024 * 1024 + 7
    with run_server(data_dir, embedded_workers=False) as first:
        url = create(first, len(data), source.name)
        r = httpx.patch(first.base_url + url, content=data[:acked], headers=patch_headers(0))
        assert r.status_code == 204
        assert int(r.headers["Upload-Offset"]) == acked
        # A second PATCH is in flight (written, never acknowledged) when the server dies.
        sock = send_partial_patch(first, url, data, 1536 * 1024, offset=acked)
        wait_staged(data_dir / "uploads" / url.rsplit("/", 1)[1], acked)
        first.proc.kill()
        first.proc.wait(30)
        sock.close()

    with run_server(data_dir, embedded_workers=False) as second:
        offset = int(head(second, url).headers["Upload-Offset"])
        assert offset >= acked
        r = httpx.patch(
            second.base_url + url, content=data[offset:], headers=patch_headers(offset), timeout=60
        )
        assert r.status_code == 204, r.text
        assert r.headers["Upload-Offset"] == str(len(data))
        assert_stored(second, head(second, url).headers["Video-Id"], source)


def test_crash_mid_patch_keeps_only_what_was_acknowledged(tmp_path: Path) -> None:
    source = random_file(tmp_path / "movie.bin", 2 * 1024 * 1024)
    data = source.read_bytes()
    data_dir = tmp_path / "data"
    with run_server(data_dir, embedded_workers=False) as first:
        url = create(first, len(data), source.name)
        # Bytes of an unfinished PATCH reach the staging file, but are never acknowledged.
        sock = send_partial_patch(first, url, data, 1536 * 1024)
        wait_staged(data_dir / "uploads" / url.rsplit("/", 1)[1], 0)
        first.proc.kill()
        first.proc.wait(30)
        sock.close()

    with run_server(data_dir, embedded_workers=False) as second:
        assert head(second, url).headers["Upload-Offset"] == "0"
        tus = tus_client_for(second.base_url + UPLOADS)
        with source.open("rb") as fh:
            uploader = tus.uploader(
                file_stream=fh, url=second.base_url + url, chunk_size=700 * 1024
            )
            uploader.upload()
        assert_stored(second, head(second, url).headers["Video-Id"], source)


@pytest.mark.parametrize("mode", ["buffer", "stream-with-data"])
def test_tus_js_client_upload_is_byte_identical(tmp_path: Path, clip: Path, mode: str) -> None:
    node = require_binary("node")
    require((NODE_MODULES / "tus-js-client").is_dir(), "tus-js-client (run `make assets`)")
    driver = Path(__file__).with_name("tus_node_upload.mjs")
    with run_server(tmp_path / "data", embedded_workers=False) as server:
        out = subprocess.run(
            [node, str(driver), str(NODE_MODULES), server.base_url + UPLOADS, str(clip), mode],
            env={**os.environ, "REELSTREAM_TOKEN": ADMIN_TOKEN},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert out.returncode == 0, out.stderr + server.log()
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["url"].startswith(server.base_url + UPLOADS + "/")
        h = head(server, result["url"])
        assert result["videoId"] == h.headers["Video-Id"]
        assert int(h.headers["Upload-Offset"]) == clip.stat().st_size
        assert_stored(server, result["videoId"], clip)


class RssSampler:
    """Records the peak resident memory of a process while it runs."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_large_upload_streams_in_bounded_memory(tmp_path: Path) -> None:
    mib = 1024 * 1024
    total, requests = 400 * mib, 4
    per_request = total // requests
    with run_server(tmp_path / "data", embedded_workers=False, max_upload_bytes=total) as server:
        # Warm up every code path (imports, connections) before measuring.
        warm = os.urandom(3 * mib)
        url = create(server, len(warm), "warm.bin")
        for start in range(0, len(warm), mib):
            r = httpx.patch(
                server.base_url + url,
                content=warm[start : start + mib],
                headers=patch_headers(start),
                timeout=60,
            )
            assert r.status_code == 204

        digest = hashlib.sha256()

        def body(size: int) -> Iterator[bytes]:
            for _ in range(size // mib):
                block = os.urandom(mib)
                digest.update(block)
                yield block

        url = create(server, total, "huge.bin")
        baseline = psutil.Process(server.proc.pid).memory_info().rss
        with RssSampler(server.proc.pid) as rss, httpx.Client(timeout=300) as http:
            for i in range(requests):
                offset = i * per_request
                r = http.patch(
                    server.base_url + url,
                    content=body(per_request),
                    headers=patch_headers(offset, **{"Content-Length": str(per_request)}),
                )
                assert r.status_code == 204, r.text
                assert r.headers["Upload-Offset"] == str(offset + per_request)
        growth = rss.peak - baseline
        print(f"server RSS growth during {total // mib} MiB upload: {growth / mib:.1f} MiB")
        assert growth < 60 * mib, f"server RSS grew by {growth / mib:.1f} MiB"
        video_id = head(server, url).headers["Video-Id"]
        stored = stored_source(server, video_id)
        assert stored.stat().st_size == total
        assert file_sha256(stored) == digest.hexdigest()
