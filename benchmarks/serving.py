"""Benchmark: reelstream's serving paths beside their anchors, in one run, on one machine.

Every server is pinned to ``--server-cpus`` (default CPU 0) and ``wrk -t1 -c32 --latency`` to
``--client-cpus`` (default CPU 1); each target is measured ``--runs`` times (interleaved, so
noise from the machine falls on anchors and reelstream alike) for ``--seconds`` each. The table
gives the medians of req/s and p99, and each target's ratio to its anchor:

* bare nginx serving the segment file from disk          -> anchor of the edge cache HIT
* a bare ASGI app sending the same file (uvicorn, uvloop, httptools)
                                                         -> anchor of the origin segment GET
* a minimal FastAPI route returning a cached pydantic model
                                                         -> anchor of the hot API reads
* the 429 path (a second server with REELSTREAM_RATE_LIMIT_READS=10/minute) -> vs a served read

reelstream is a real ``reelstream serve`` (rate limits off) with a generated clip uploaded over
tus and transcoded at the start; the edge is the nginx configuration ``reelstream edge-config``
writes, in front of that server. The anchors are ``benchmarks/serving_apps.py``. Results go to
docs/performance.md unless --no-write is given.

    .venv/bin/python -m benchmarks.serving [--runs 3] [--seconds 10] [--no-write]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import ADMIN_TOKEN, make_clip, playlist_uris, server_env  # noqa: E402

from benchmarks.common import machine, publish  # noqa: E402
from benchmarks.measured_record import Measurement, Run, cpu_count, record, short_machine  # noqa: E402
from benchmarks.serving_report import Target, WrkResult, parse_wrk, table  # noqa: E402
from reelstream.config import Settings  # noqa: E402
from reelstream.devcluster.nginx import NginxEdge  # noqa: E402
from reelstream.devcluster.process import free_port, spawn, stop_process, wait_until  # noqa: E402
from reelstream.edge.config import edge_config  # noqa: E402
from reelstream.edge.render import find_nginx  # noqa: E402

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
AS_ROOT = os.geteuid() == 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per target [3]")
    parser.add_argument("--seconds", type=float, default=10, help="wrk duration per run [10]")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections [32]")
    parser.add_argument("--server-cpus", default="0", help="taskset list for servers [0]")
    parser.add_argument("--client-cpus", default="1", help="taskset list for wrk [1]")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes per server: reelstream --workers, uvicorn --workers, nginx "
        "worker_processes [1]",
    )
    parser.add_argument("--clip-seconds", type=float, default=6, help="generated clip length [6]")
    parser.add_argument("--clip-height", type=int, default=720, help="generated clip height [720]")
    parser.add_argument(
        "--segment-kb", type=int, default=189, help="serve the segment closest to this size [189]"
    )
    parser.add_argument("--only", default="", help="comma-separated target names (substrings)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    return parser.parse_args(argv)


@dataclass
class Bench:
    """Everything started for one benchmark run; stopped in reverse order at the end."""

    args: argparse.Namespace
    tmp: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def pinned(self, argv: Sequence[str]) -> list[str]:
        return ["taskset", "-c", self.args.server_cpus, *argv]

    def start(
        self, name: str, argv: Sequence[str], ready_url: str, env: dict[str, str] | None = None
    ) -> None:
        log = self.tmp / "logs" / f"{name}.log"
        proc = spawn(self.pinned(argv), log, env=env, cwd=ROOT)
        self.procs.append(proc)

        def ready() -> bool:
            try:
                return httpx.get(ready_url, timeout=2, headers=AUTH).status_code == 200
            except httpx.HTTPError:
                return False

        def failed() -> str | None:
            if proc.poll() is None:
                return None
            return f"{name} exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}"

        wait_until(ready, timeout=120, what=name, failed=failed, interval=0.2)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc, timeout=10)


# -- the servers ---------------------------------------------------------------------------


def start_reelstream(bench: Bench, data_dir: Path, name: str, **settings: object) -> str:
    port = free_port()
    argv = [sys.executable, "-m", "reelstream", "serve", "--port", str(port)]
    # One process unless asked: the anchors are one process too.
    argv += ["--workers", str(bench.args.workers)]
    env = server_env(data_dir, log_level="WARNING", **settings)
    base = f"http://127.0.0.1:{port}"
    bench.start(name, argv, f"{base}/readyz", env)
    return base


def start_uvicorn(bench: Bench, app: str, ready_path: str, env: dict[str, str]) -> str:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    if bench.args.workers > 1:
        argv += ["--workers", str(bench.args.workers)]
    base = f"http://127.0.0.1:{port}"
    bench.start(app, argv, base + ready_path, {**os.environ, **env})
    return base


def start_bare_nginx(bench: Bench, nginx: str, www: Path) -> str:
    port = free_port()
    prefix = bench.tmp / "bare-nginx"
    (prefix / "logs").mkdir(parents=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        ("user root;\n" if AS_ROOT else "")
        + f"worker_processes {bench.args.workers};\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/logs/error.log;\nevents {{ worker_connections 1024; }}\n"
        # the edge's file settings (sendfile, no TCP_CORK, descriptors kept open), no access
        # log: what is left between the two is the token check and the cache lookup
        "http { access_log off; sendfile on; tcp_nopush off;\n"
        "  open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;\n"
        f"  server {{ listen 127.0.0.1:{port}; root {www}; }} }}\n"
    )
    argv = [nginx, "-c", str(conf), "-p", str(prefix), "-e", "stderr", "-g", "daemon off;"]
    bench.start("bare-nginx", argv, f"http://127.0.0.1:{port}/seg.m4s")
    return f"http://127.0.0.1:{port}"


def start_edge(bench: Bench, nginx: str, origin: str, keys: dict[str, str], probe: str) -> str:
    root = bench.tmp / "edge"
    config = edge_config(
        origins=[origin],
        listen=f"127.0.0.1:{free_port()}",
        cache_dir=root / "cache",
        prefix=root,
        signing_keys=keys,
        cache_size="256m",
        keys_zone_size="8m",
        user="root" if AS_ROOT else None,
        worker_processes=str(bench.args.workers),
    )
    edge = NginxEdge.write(config, root / "nginx.conf", nginx)  # what edge-config writes
    argv = [nginx, "-c", str(edge.conf_path), "-p", str(root), "-e", "stderr", "-g", "daemon off;"]
    bench.start("edge", argv, f"{edge.base_url}/edge/healthz")
    for _ in range(2):  # MISS (fetched from the origin), then HIT
        r = httpx.get(edge.base_url + probe, timeout=30)
        r.raise_for_status()
    if r.headers.get("x-cache-status") != "HIT":
        raise RuntimeError(f"the edge did not cache {probe}: {r.headers.get('x-cache-status')}")
    if len(r.content) != bench.args.segment_bytes:  # what wrk will get: the whole segment
        raise RuntimeError(f"the edge HIT sent {len(r.content)} bytes, not the segment's")
    return edge.base_url


# -- the video ------------------------------------------------------------------------------


def upload_ready_video(base: str, source: Path, timeout: float = 600) -> str:
    """Upload ``source`` over tus as the development admin; wait until it is ready."""
    size = source.stat().st_size
    meta = "filename " + base64.b64encode(source.name.encode()).decode()
    meta += ",visibility " + base64.b64encode(b"public").decode()
    with httpx.Client(base_url=base, timeout=120, headers=AUTH) as client:
        tus = {"Tus-Resumable": "1.0.0"}
        created = client.post(
            "/api/v1/uploads",
            headers={**tus, "Upload-Length": str(size), "Upload-Metadata": meta},
        )
        created.raise_for_status()
        video_id = created.headers["Video-Id"]
        resp = client.patch(
            created.headers["Location"],
            content=source.read_bytes(),
            headers={
                **tus,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        )
        resp.raise_for_status()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            video = client.get(f"/api/v1/videos/{video_id}").json()
            if video["status"] == "ready":
                return str(video_id)
            if video["status"] == "failed":
                raise RuntimeError(f"transcode failed: {video.get('error')}")
            time.sleep(1)
    raise RuntimeError(f"video {video_id} not ready after {timeout} s")


def segment_path(base: str, video_id: str, size: int) -> str:
    """The signed path (below the server) of the video's segment closest to ``size`` bytes."""
    sizes: dict[str, int] = {}
    with httpx.Client(timeout=30, headers=AUTH) as client:
        hls_url = client.get(f"{base}/api/v1/videos/{video_id}/playback").json()["hls_url"]
        master = httpx.URL(hls_url)
        for variant_uri in playlist_uris(client.get(master).text):
            variant = master.join(variant_uri)
            for uri in playlist_uris(client.get(variant).text):
                if not uri.endswith(".mp4"):  # not the init segment
                    segment = variant.join(uri)
                    sizes[segment.raw_path.decode()] = len(client.get(segment).content)
    return min(sizes, key=lambda path: abs(sizes[path] - size))


# -- measuring -----------------------------------------------------------------------------


def run_wrk(args: argparse.Namespace, url: str, headers: dict[str, str]) -> WrkResult:
    argv = ["taskset", "-c", args.client_cpus, "wrk", "-t1", f"-c{args.connections}"]
    argv += [f"-d{args.seconds:g}s", "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True, timeout=600)
    return parse_wrk(out.stdout)


@dataclass
class Row:
    target: Target
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def measure(args: argparse.Namespace, rows: list[Row]) -> None:
    for n in range(args.runs):
        for row in rows:
            result = run_wrk(args, row.url, row.headers)
            row.target.runs.append(result)
            print(
                f"run {n + 1}/{args.runs} {row.target.name}: {result.rps:,.0f} req/s, "
                f"p99 {result.p99_ms:.2f} ms, non-2xx {result.non_2xx}",
                flush=True,
            )


@contextlib.contextmanager
def started(args: argparse.Namespace) -> Iterator[list[Row]]:
    nginx = find_nginx()
    if nginx is None or shutil.which("wrk") is None or shutil.which("taskset") is None:
        raise SystemExit("the serving benchmark needs nginx (with njs), wrk and taskset")
    with tempfile.TemporaryDirectory(prefix="reelstream-serving-") as tmp_name:
        tmp = Path(tmp_name)
        bench = Bench(args, tmp)
        try:
            yield build(bench, nginx)
        finally:
            bench.stop_all()


def build(bench: Bench, nginx: str) -> list[Row]:
    """Start every server, upload the video, and return the rows to measure (in table order)."""
    tmp = bench.tmp
    data_dir = tmp / "data"
    settings = Settings(env="development", data_dir=data_dir, _env_file=None)
    settings.prepare()  # the signing key the server and the edge share
    keys = {k: v.get_secret_value() for k, v in settings.signing_keys.items()}

    rs = start_reelstream(bench, data_dir, "reelstream", rate_limit_enabled="false")
    height = bench.args.clip_height
    clip = make_clip(
        tmp / "clip.mp4", seconds=bench.args.clip_seconds, width=height * 16 // 9, height=height
    )
    video_id = upload_ready_video(rs, clip)
    seg = segment_path(rs, video_id, bench.args.segment_kb * 1024)
    www = tmp / "www"
    www.mkdir()
    (www / "seg.m4s").write_bytes(httpx.get(rs + seg, timeout=30).content)
    bench.args.segment_bytes = (www / "seg.m4s").stat().st_size
    print(f"video {video_id} ready; segment {bench.args.segment_bytes:,} bytes", flush=True)

    limited = start_reelstream(
        bench,
        data_dir,
        "reelstream-limited",
        rate_limit_reads="10/minute",
        embedded_workers="false",
    )
    file_env = {"SERVING_FILE": str(www / "seg.m4s")}
    bare_asgi = start_uvicorn(bench, "benchmarks.serving_apps:file_app", "/", file_env)
    fastapi = start_uvicorn(bench, "benchmarks.serving_apps:model_app", "/v/x", {})
    bare_nginx = start_bare_nginx(bench, nginx, www)
    edge = start_edge(bench, nginx, rs, keys, seg)

    read = f"/api/v1/videos/{video_id}"
    for path in (read, f"{read}/playback", "/api/v1/videos"):  # a viewer's reads: anonymous
        r = httpx.get(rs + path, timeout=10)
        if r.status_code != 200:
            raise RuntimeError(f"anonymous GET {path} answers {r.status_code}: {r.text[:300]}")
    for _ in range(20):  # spend the limited server's budget: every read after it is a 429
        status = httpx.get(limited + read, timeout=10).status_code
    if status != 429:
        raise RuntimeError(f"the rate-limited server answers {status}, not 429")

    def row(name: str, anchor: str | None, url: str, status: int = 200) -> Row:
        return Row(Target(name, anchor, status), url)

    rows = [
        row("bare nginx, segment file", None, f"{bare_nginx}/seg.m4s"),
        row("edge cache HIT (nginx + njs token check)", "bare nginx, segment file", edge + seg),
        row("bare ASGI file send (uvicorn)", None, f"{bare_asgi}/seg.m4s"),
        row("origin segment GET", "bare ASGI file send (uvicorn)", rs + seg),
        row("minimal FastAPI cached model", None, f"{fastapi}/v/{video_id}"),
        row(f"GET {read}", "minimal FastAPI cached model", rs + read),
        row("GET .../playback", "minimal FastAPI cached model", f"{rs}{read}/playback"),
        row(
            "GET /api/v1/videos (first page)", "minimal FastAPI cached model", f"{rs}/api/v1/videos"
        ),
        row("GET /healthz", "minimal FastAPI cached model", f"{rs}/healthz"),
        row("429 (reads over the limit)", f"GET {read}", limited + read, status=429),
    ]
    only = [s.strip() for s in bench.args.only.split(",") if s.strip()]
    if only:
        rows = [r for r in rows if any(s in r.target.name for s in only)]
    return rows


# The rows whose req/s the capacity model uses (reelstream.capacity.measured), by record name.
RECORDED = {
    "edge cache HIT (nginx + njs token check)": "edge_hit_rps",
    "origin segment GET": "origin_segment_rps",
    "GET .../playback": "api_playback_rps",
    "GET /api/v1/videos (first page)": "api_list_rps",
    "GET /healthz": "routed_request_rps",
}


def heading(date: str) -> str:
    return f"Serving: reelstream beside its anchors ({date})"


def command_of(argv: Sequence[str]) -> str:
    return ("python -m benchmarks.serving " + " ".join(argv)).strip()


def measurements(args: argparse.Namespace, rows: list[Row]) -> list[Measurement]:
    """The recorded figures of a run: req/s as the table prints it, on the server's CPUs."""
    out = []
    for row in rows:
        t = row.target
        name = RECORDED.get(t.name) or (
            "api_get_rps" if t.name.startswith("GET /api/v1/videos/") else None
        )
        if name is None or not t.runs:
            continue
        extra = (
            {"request_bytes": args.segment_bytes}
            if name in ("edge_hit_rps", "origin_segment_rps")
            else {}
        )
        out.append(
            Measurement(
                name, round(t.rps), "req/s", t.name, cpu_count(args.server_cpus), extra=extra
            )
        )
    return out


def report(args: argparse.Namespace, rows: list[Row], argv: Sequence[str]) -> str:
    nginx_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    command = command_of(argv)
    return (
        f"\n## {heading(time.strftime('%Y-%m-%d'))}\n\n"
        f"{machine()} {nginx_v}.\n\n"
        f"Command: `{command}` (servers on CPU {args.server_cpus}, "
        f"`wrk -t1 -c{args.connections} -d{args.seconds:g}s` on CPU {args.client_cpus}, "
        f"{args.runs} run(s), medians; workers per server: {args.workers}; one HLS segment of "
        f"{getattr(args, 'segment_bytes', 0):,} bytes; reads anonymous, of a public video).\n\n"
        + table([r.target for r in rows])
    )


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    with started(args) as rows:
        measure(args, rows)
    publish(report(args, rows, argv), args, "performance.md")
    if not args.no_write:
        nginx_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
        date = time.strftime("%Y-%m-%d")
        run = Run(
            "docs/performance.md",
            heading(date),
            command_of(argv),
            f"{short_machine(machine())}, {nginx_v.strip().removeprefix('nginx version: ')}",
            date,
        )
        record(run, measurements(args, rows))


if __name__ == "__main__":
    main()
