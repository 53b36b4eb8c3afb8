"""Origin segment GET against its anchor: a bare ASGI app that only sends the same file.

Both run on the same server (uvicorn, with uvloop and httptools when installed), pinned to one
CPU; ``wrk -t1 -c32 --latency`` runs on another; the two alternate for ``--rounds`` rounds and
the medians are compared (a shared machine is noisy: the ratio of one run is the figure).
The file is written straight into a fresh data folder's storage and its token signed with the
key the server will use, as ``tests/delivery/test_origin_server.py`` does: no upload, no
transcode.

    PYTHONPATH=src python benchmarks/origin_probe.py --size 193536 --size 406000
    PYTHONPATH=src python benchmarks/origin_probe.py --file seg.m4s --role origin

Needs ``wrk`` and ``taskset``. Loopback only; every server it starts is stopped.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from reelstream.auth.tokens import TokenSigner
from reelstream.config import Settings
from reelstream.ids import new_id, new_rev
from reelstream.storage.keys import rev_prefix


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(argv: list[str], env: dict[str, str], url: str, cpu: str) -> Iterator[int]:
    proc = subprocess.Popen(
        ["taskset", "-c", cpu, *argv],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"{argv} did not answer {url}")
        yield proc.pid  # taskset execs the server: the same process
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wrk(url: str, seconds: float, connections: int, cpu: str) -> tuple[float, float, int]:
    """Requests per second, p99 in ms, requests completed."""
    out = subprocess.run(
        [
            "taskset",
            "-c",
            cpu,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert m is not None, out
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    if "Non-2xx" in out or "Socket errors" in out:
        print(out, file=sys.stderr)
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, p99, done


def probe(data: bytes, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        settings = Settings(env="development", data_dir=data_dir, _env_file=None)
        settings.prepare()
        keys = {kid: key.get_secret_value() for kid, key in settings.signing_keys.items()}
        signer = TokenSigner(keys, settings.signing_key_id)
        vid, rev = new_id(), new_rev()
        blob = data_dir / "storage" / rev_prefix(vid, rev) / "v720" / "seg_00001.m4s"
        blob.parent.mkdir(parents=True)
        blob.write_bytes(data)
        token = signer.sign(vid, int(time.time()) + 3600)

        port_r, port_b = free_port(), free_port()
        env = {
            "PYTHONPATH": os.environ.get("PYTHONPATH", "src"),
            "REELSTREAM_ENV": "development",
            "REELSTREAM_RATE_LIMIT_ENABLED": "false",
            "REELSTREAM_LOG_LEVEL": args.log_level,
            "SERVING_FILE": str(blob),  # the anchor: benchmarks.serving_apps.file_app
            "SERVING_HEADERS": "origin" if args.anchor_headers else "",
        }
        reel = [sys.executable, "-m", "reelstream", args.role, "--port", str(port_r)]
        reel += ["--data-dir", str(data_dir), "--workers", "1"]  # the pid whose CPU is read
        bare = [sys.executable, "-m", "uvicorn", "benchmarks.serving_apps:file_app"]
        bare += ["--port", str(port_b), "--log-level", "warning", "--no-access-log"]
        reel_url = f"http://127.0.0.1:{port_r}/media/{vid}/{rev}/{token}/v720/seg_00001.m4s"
        bare_url = f"http://127.0.0.1:{port_b}/seg_00001.m4s"
        # per round: req/s, p99 ms, server CPU µs per request (robust on a busy machine)
        results: dict[str, list[tuple[float, float, float]]] = {"bare": [], "reelstream": []}
        for _ in range(args.rounds):
            for name, argv, url in (("bare", bare, bare_url), ("reelstream", reel, reel_url)):
                with server(argv, env, url, args.server_cpu) as pid:
                    wrk(url, 1, args.connections, args.client_cpu)  # warm-up
                    before = cpu_seconds(pid)
                    rps, p99, done = wrk(url, args.seconds, args.connections, args.client_cpu)
                    cpu_us = (cpu_seconds(pid) - before) / done * 1e6
                    results[name].append((rps, p99, cpu_us))
        med = {
            name: tuple(statistics.median(run[i] for run in runs) for i in range(3))
            for name, runs in results.items()
        }
        b, r = med["bare"], med["reelstream"]
        print(
            f"{len(data):>9} B  bare {b[0]:>7.0f} req/s p99 {b[1]:6.2f} ms {b[2]:5.1f} us/req"
            f" | reelstream {args.role} {r[0]:>7.0f} req/s p99 {r[1]:6.2f} ms {r[2]:5.1f} us/req"
            f" | ratio req/s {r[0] / b[0]:.2f}, CPU/req {b[2] / r[2]:.2f}",
            flush=True,
        )
        if args.verbose:
            print(f"  rounds (req/s, p99 ms, CPU us/req): {results}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, action="append", help="bytes of a generated file")
    parser.add_argument("--file", type=Path, action="append", help="a file to serve")
    parser.add_argument("--role", choices=["serve", "origin"], default="serve")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--client-cpu", default="1")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="REELSTREAM_LOG_LEVEL of the server [INFO, as shipped: uvicorn logs every request]",
    )
    parser.add_argument(
        "--anchor-headers",
        action="store_true",
        help="the anchor also sends the origin's ETag, Last-Modified, cache and CORS headers",
    )
    args = parser.parse_args()
    bodies = [f.read_bytes() for f in args.file or []]
    bodies += [bytes((i * 7 + i // 251) % 256 for i in range(n)) for n in args.size or []]
    for body in bodies or [bytes(range(256)) * 1600]:
        probe(body, args)


if __name__ == "__main__":
    main()
