"""The origin over real HTTP: a ``reelstream serve`` process, httpx, and a raw socket.

Blobs are written straight into ``<data_dir>/storage`` (the origin never reads the database), and
the token is signed with the key the server generated in ``<data_dir>/secrets``.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from reelstream.auth.tokens import TokenSigner
from reelstream.config import Settings
from reelstream.ids import new_id, new_rev
from reelstream.storage.keys import rev_prefix
from tests.support import run_server

pytestmark = pytest.mark.e2e

SEGMENT = bytes((i * 13 + i // 509) % 256 for i in range(500_000))
SECRET = b"TOP-SECRET-next-to-the-storage-root"


def raw_get(base_url: str, target: str) -> bytes:
    """Send a request line exactly as given (no client-side path normalisation)."""
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        request = f"GET {target} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("latin-1"))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_ranges_etags_and_paths_over_real_http(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(env="development", data_dir=data_dir, _env_file=None)
    settings.prepare()  # the server reuses the signing key stored in <data_dir>/secrets
    keys = {kid: key.get_secret_value() for kid, key in settings.signing_keys.items()}
    signer = TokenSigner(keys, settings.signing_key_id)

    vid, rev = new_id(), new_rev()
    rev_dir = data_dir / "storage" / rev_prefix(vid, rev)
    (rev_dir / "v360").mkdir(parents=True)
    (rev_dir / "v360" / "seg_00001.m4s").write_bytes(SEGMENT)
    (rev_dir / "master.m3u8").write_bytes(b"#EXTM3U\nv360/index.m3u8\n")
    (data_dir / "secret.txt").write_bytes(SECRET)
    token = signer.sign(vid, int(time.time()) + 600)

    with run_server(data_dir, embedded_workers=False) as server:
        base = f"{server.base_url}/media/{vid}/{rev}/{token}"
        seg = f"{base}/v360/seg_00001.m4s"
        with httpx.Client(timeout=30) as http:
            full = http.get(seg)
            assert full.status_code == 200, server.log()
            assert full.content == SEGMENT
            assert full.headers["content-length"] == str(len(SEGMENT))
            assert full.headers["content-type"] == "video/iso.segment"
            assert full.headers["accept-ranges"] == "bytes"
            assert "immutable" in full.headers["cache-control"]
            etag = full.headers["etag"]

            first = http.get(seg, headers={"range": "bytes=0-99"})
            assert first.status_code == 206
            assert first.content == SEGMENT[:100]
            assert first.headers["content-range"] == f"bytes 0-99/{len(SEGMENT)}"
            assert first.headers["etag"] == etag

            tail = http.get(seg, headers={"range": "bytes=-1000"})
            assert tail.status_code == 206
            assert tail.content == SEGMENT[-1000:]

            middle = http.get(seg, headers={"range": "bytes=100000-"})
            assert middle.status_code == 206
            assert middle.content == SEGMENT[100000:]

            too_far = http.get(seg, headers={"range": f"bytes={len(SEGMENT)}-"})
            assert too_far.status_code == 416
            assert too_far.headers["content-range"] == f"bytes */{len(SEGMENT)}"

            cached = http.get(seg, headers={"if-none-match": etag})
            assert cached.status_code == 304
            assert cached.content == b""
            assert cached.headers["etag"] == etag

            stale = http.get(seg, headers={"range": "bytes=0-9", "if-range": '"stale"'})
            assert stale.status_code == 200
            assert stale.content == SEGMENT

            head = http.head(seg)
            assert head.status_code == 200
            assert head.content == b""
            assert head.headers["content-length"] == str(len(SEGMENT))
            assert head.headers["etag"] == etag

            master = http.get(f"{base}/master.m3u8")
            assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
            assert master.headers["cache-control"] == "public, max-age=10"
            assert (
                http.get(f"{base}/master.m3u8".replace(token, "x" + token[1:])).status_code == 403
            )

        # literal dot segments, which httpx would normalise away, sent on a raw socket
        prefix = f"/media/{vid}/{rev}/{token}"
        for target in (
            f"{prefix}/../../../../../secret.txt",
            f"{prefix}/v360/../../../../../../secret.txt",
            f"{prefix}/..%2F..%2F..%2F..%2F..%2Fsecret.txt",
            f"{prefix}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
            f"/media/{vid}/{rev}/../../../../../../secret.txt",
            f"/media/../../{vid}/{rev}/{token}/secret.txt",
            f"{prefix}/..\\..\\..\\..\\..\\secret.txt",
        ):
            response = raw_get(server.base_url, target)
            status_line = response.split(b"\r\n", 1)[0]
            assert status_line.split()[1] in (b"403", b"404"), (target, status_line)
            assert b'"error"' in response, target
            assert SECRET not in response, target
