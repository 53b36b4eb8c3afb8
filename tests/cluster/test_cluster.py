"""The local cluster as a user runs it: ``python -m reelstream cluster up`` in a subprocess.

Then the foundation's end-to-end path with the viewer and the CLI talking to the nginx edge
only (the upload itself continues from one api instance on another), and finally Ctrl-C
(SIGINT), after which no process the cluster listed may still run. ``-s`` prints the timings.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from tusclient import client as tus

from reelstream.devcluster.cluster import missing_requirements
from reelstream.devcluster.process import alive, free_port
from tests.support import make_clip, media_duration, playlist_uris, require
from tests.support import wait_for_status as wait_status

pytestmark = pytest.mark.e2e

START_TIMEOUT_S = 300
STOP_TIMEOUT_S = 90


@dataclass
class RunningCluster:
    proc: subprocess.Popen[bytes]
    root: Path
    data_dir: Path
    log_path: Path
    manifest: dict[str, Any]
    started_in: float

    @property
    def edge(self) -> str:
        return str(self.manifest["edge_url"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _wait_manifest(proc: subprocess.Popen[bytes], path: Path, log_path: Path) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = log_path.read_text()
            raise AssertionError(f"cluster up exited with {proc.returncode}:\n{log}")
        if path.exists():
            manifest: dict[str, Any] = json.loads(path.read_text())
            return manifest
        time.sleep(0.5)
    raise AssertionError(f"no cluster.json within {START_TIMEOUT_S} s:\n{log_path.read_text()}")


def _wait_edge_ready(edge: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{edge}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("the edge's /readyz never answered 200")


@pytest.fixture(scope="module")
def cluster() -> Iterator[RunningCluster]:
    missing = missing_requirements()
    require(not missing, f"the local cluster's engines ({', '.join(missing)})")
    # PostgreSQL runs as the postgres user: every folder above its data must be traversable
    root = Path(tempfile.mkdtemp(prefix="reelstream-cluster-", dir="/tmp"))
    root.chmod(0o755)
    data_dir = root / "data"
    log_path = root / "cluster-up.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELSTREAM_")}
    argv = [sys.executable, "-m", "reelstream", "cluster", "up", "--data-dir", str(data_dir)]
    argv += ["--edge-port", str(free_port())]
    t0 = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    manifest: dict[str, Any] = {}
    try:
        manifest = _wait_manifest(proc, data_dir / "cluster.json", log_path)
        _wait_edge_ready(manifest["edge_url"])
        started = time.monotonic() - t0
        print(f"\ncluster up and ready through the edge in {started:.1f} s")
        yield RunningCluster(proc, root, data_dir, log_path, manifest, started)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in alive(p["pid"] for p in manifest.get("processes", [])):
            os.kill(pid, signal.SIGKILL)  # never leave a server behind, even on failure
        shutil.rmtree(root, ignore_errors=True)


def test_cluster_json_lists_every_process(cluster: RunningCluster) -> None:
    m = cluster.manifest
    roles = [p["role"] for p in m["processes"]]
    assert roles.count("api") == 2 and roles.count("origin") == 2 and roles.count("worker") == 2
    for role in ("edge", "postgres-primary", "postgres-replica", "redis", "swift-proxy"):
        assert role in roles, roles
    assert len(m["api_urls"]) == 2 and len(m["origin_urls"]) == 2
    assert m["edge_url"].startswith("http://127.0.0.1:")
    assert "target_session_attrs=read-write" in m["database_url"]
    # PostgreSQL under Patroni (etcd keeps its leader lock): sync replication by default
    assert m["pg_replication"] == "sync"
    assert roles.count("patroni") == 2 and roles.count("etcd") == 3
    assert [n["name"] for n in m["postgres_nodes"]] == ["pg-1", "pg-2"]
    assert len(m["etcd_urls"]) == 3
    pg = [p for p in m["processes"] if p["role"].startswith("postgres-")]
    assert {p["node"] for p in pg} == {"pg-1", "pg-2"} and all(p["data"] for p in pg)
    assert "target_session_attrs=prefer-standby" in m["database_replica_url"]
    assert all(alive([p["pid"]]) for p in m["processes"]), m["processes"]
    for url in (*m["api_urls"], *m["origin_urls"]):
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200, url


def _tus_half(
    base: str, token: str, stream: Any, stop_at: int | None, url: str | None = None
) -> str:
    """Send ``stream`` to the api at ``base`` with tuspy up to ``stop_at`` (all when None)."""
    client = tus.TusClient(f"{base}/api/v1/uploads", headers={"Authorization": f"Bearer {token}"})
    uploader = client.uploader(
        file_stream=stream,
        url=url,
        chunk_size=256 * 1024,
        metadata={"filename": "clip.mp4", "title": "through the edge"},
    )
    uploader.upload(stop_at=stop_at)
    assert uploader.url is not None
    return str(uploader.url)


def test_upload_transcode_and_stream_through_the_edge(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    edge = cluster.edge
    api_a, api_b = cluster.manifest["api_urls"]
    token = cluster.manifest["admin_token"]  # the admin `cluster up` created
    assert token.startswith("rs_")
    tus_headers = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}
    clip = make_clip(tmp_path / "clip.mp4")
    size = clip.stat().st_size
    source_duration = media_duration(str(clip))

    # tus: created and half sent on api A, continued on api B (no state shared but the engines)
    t0 = time.monotonic()
    with clip.open("rb") as stream:  # tuspy leaves a file it opened itself unclosed
        url_a = _tus_half(api_a, token, stream, stop_at=size // 2)
    path = urlsplit(url_a).path
    head = httpx.head(f"{edge}{path}", headers=tus_headers)
    assert head.status_code == 200, head.text
    offset = int(head.headers["Upload-Offset"])
    assert 0 < offset < size
    video_id = head.headers["Video-Id"]
    with clip.open("rb") as stream:
        _tus_half(api_b, token, stream, stop_at=None, url=f"{api_b}{path}")
    head = httpx.head(f"{edge}{path}", headers=tus_headers)
    assert int(head.headers["Upload-Offset"]) == size
    uploaded = time.monotonic() - t0

    video = wait_status(edge, video_id, {"ready", "failed"}, headers={})
    ready = time.monotonic() - t0
    assert video["status"] == "ready", f"{video}\n{cluster.log()}"
    assert video["playable"] is True
    assert abs(float(video["duration_s"]) - source_duration) < 0.5

    # playback URLs name the edge (REELSTREAM_PUBLIC_BASE_URL), and everything plays from it
    playback = httpx.get(f"{edge}/api/v1/videos/{video_id}/playback")
    assert playback.status_code == 200, playback.text
    master_url = playback.json()["hls_url"]
    assert master_url.startswith(f"{edge}/media/{video_id}/"), master_url
    master = httpx.get(master_url)
    assert master.status_code == 200, master.text
    assert "X-Cache-Status" in master.headers  # answered by the edge's cache tier
    assert "#EXT-X-STREAM-INF" in master.text
    segments: list[str] = []
    for child in playlist_uris(master.text):
        child_url = urljoin(master_url, child)
        resp = httpx.get(child_url)
        assert resp.status_code == 200, child_url
        if child_url.split("?")[0].endswith(".m3u8"):
            assert "#EXT-X-ENDLIST" in resp.text
            segments += [urljoin(child_url, uri) for uri in playlist_uris(resp.text)]
    assert len(segments) >= 6
    for seg_url in segments:
        seg = httpx.get(seg_url)
        assert seg.status_code == 200 and seg.content, seg_url
        assert seg.headers["X-Cache-Status"] in ("MISS", "HIT", "EXPIRED", "UPDATING", "STALE")
    again = httpx.get(segments[-1])
    assert again.headers["X-Cache-Status"] == "HIT"
    assert abs(media_duration(master_url) - source_duration) < 0.5

    # the web pages and their static files come through the edge too
    for page in ("/", f"/watch/{video_id}"):
        resp = httpx.get(f"{edge}{page}")
        assert resp.status_code == 200, page
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', resp.text)
    assert assets, resp.text[:2000]
    for asset in assets:
        assert httpx.get(f"{edge}{asset}").status_code == 200, asset
    print(
        f"\nupload across 2 api instances {uploaded:.1f} s, ready {ready:.1f} s after the "
        f"first byte; {len(segments)} segments and {len(assets)} static files via the edge"
    )


def _json_lines(paths: list[Path], request_id: str) -> list[dict[str, Any]]:
    """The JSON log lines of ``paths`` that carry ``request_id`` (the roles log JSON)."""
    found = []
    for path in paths:
        for raw in path.read_text(errors="replace").splitlines():
            if request_id in raw and raw.startswith("{"):
                line = json.loads(raw)
                if line.get("request_id") == request_id:
                    found.append(line | {"file": path.name})
    return found


def test_one_request_id_from_the_edge_through_the_api_into_the_worker(
    cluster: RunningCluster,
) -> None:
    edge, token = cluster.edge, cluster.manifest["admin_token"]
    rid = f"cluster-{os.urandom(6).hex()}"  # the client's own id, well formed: kept
    data = b"no video in here" * 64  # its transcode fails at the probe: quick
    headers = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}
    created = httpx.post(
        f"{edge}/api/v1/uploads",
        headers={
            **headers,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "filename " + base64.b64encode(b"junk.mp4").decode(),
        },
    )
    assert created.status_code == 201, created.text
    video_id = created.headers["Video-Id"]
    done = httpx.patch(
        urljoin(edge, urlsplit(created.headers["Location"]).path),
        content=data,
        headers={
            **headers,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "X-Request-Id": rid,
        },
    )
    assert done.status_code == 204, done.text
    assert done.headers.get_list("x-request-id") == [rid]
    assert wait_status(edge, video_id, {"ready", "failed"}, headers={})["status"] == "failed"

    access = (cluster.data_dir / "edge" / "logs" / "access.log").read_text()
    assert f" rid={rid} " in access
    logs = cluster.data_dir / "logs"
    api = _json_lines(sorted(logs.glob("api-*.log")), rid)
    assert any(f"video {video_id} queued" in line["msg"] for line in api), api
    worker: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10  # the status is written before the attempt's last line
    while len(worker) < 2 and time.monotonic() < deadline:
        worker = _json_lines(sorted(logs.glob("worker-*.log")), rid)
        time.sleep(0.2)
    assert len(worker) >= 2, worker  # the claim, and the attempt's end
    assert all((w["kind"], w["video_id"]) == ("transcode", video_id) for w in worker), worker
    print(f"\nrequest {rid}: edge access log, {len(api)} api line(s), {len(worker)} worker lines")


def test_cli_works_against_the_edge(cluster: RunningCluster, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "cli.mp4", seconds=2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELSTREAM_")}
    env["REELSTREAM_CLIENT_STATE"] = str(tmp_path / "client")
    env["REELSTREAM_TOKEN"] = cluster.manifest["admin_token"]
    cli = [sys.executable, "-m", "reelstream"]
    up = subprocess.run(
        [*cli, "upload", str(clip), "--title", "from the cli", "--server", cluster.edge],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    match = re.search(r"^video\s+(\S+)$", up.stdout, re.MULTILINE)
    assert match, up.stdout
    video_id = match.group(1)
    assert f"{cluster.edge}/watch/{video_id}" in up.stdout

    listed = subprocess.run(
        [*cli, "videos", "--mine", "--server", cluster.edge, "--json"],  # any status
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    videos = {v["id"]: v for v in json.loads(listed.stdout)}
    assert videos[video_id]["title"] == "from the cli"
    assert videos[video_id]["status"] in ("queued", "processing", "ready")


def test_the_api_writes_again_after_the_database_primary_crashes(cluster: RunningCluster) -> None:
    """Patroni promotes the standby by itself; the roles find it through their multi-host URL
    without a restart, and cluster.json is rewritten with the new roles."""
    primary = next(p for p in cluster.manifest["processes"] if p["role"] == "postgres-primary")
    headers = {
        "Tus-Resumable": "1.0.0",
        "Authorization": f"Bearer {cluster.manifest['admin_token']}",
    }
    headers |= {"Upload-Length": "1000", "Upload-Metadata": "filename Y2xpcC5tcDQ="}
    os.kill(primary["pid"], signal.SIGKILL)
    t0 = time.monotonic()
    created = None
    while time.monotonic() - t0 < 120:
        resp = httpx.post(f"{cluster.edge}/api/v1/uploads", headers=headers, timeout=30)
        if resp.status_code == 201:
            created = time.monotonic() - t0
            break
        assert resp.status_code == 503, resp.text  # unavailable meanwhile, never another error
        time.sleep(0.3)
    assert created is not None, cluster.log()
    manifest_path = cluster.data_dir / "cluster.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        roles = {
            p["node"]: p["role"]
            for p in json.loads(manifest_path.read_text())["processes"]
            if p["role"].startswith("postgres-")
        }
        if roles == {
            primary["node"]: "postgres-replica",
            _other(primary["node"]): "postgres-primary",
        }:
            break
        time.sleep(0.5)
    assert roles[_other(primary["node"])] == "postgres-primary", roles
    print(f"\nprimary SIGKILLed: the api wrote again after {created:.1f} s")


def _other(node: str) -> str:
    return "pg-2" if node == "pg-1" else "pg-1"


def test_sigint_stops_every_process(cluster: RunningCluster) -> None:
    pids = [p["pid"] for p in cluster.manifest["processes"]]
    t0 = time.monotonic()
    cluster.proc.send_signal(signal.SIGINT)
    assert cluster.proc.wait(STOP_TIMEOUT_S) == 0, cluster.log()
    deadline = time.monotonic() + 10
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(pids) == [], f"still running after Ctrl-C: {alive(pids)}\n{cluster.log()}"
    assert "no process left behind" in cluster.log()
    print(f"\nSIGINT: all {len(pids)} processes gone in {time.monotonic() - t0:.1f} s")
