"""Benchmark: a new video's time from upload complete to playable, and to ready, against Mux's
published medians and the bare ffmpeg ladder.

Both sides run in the same invocation on the same machine and the same generated source:

* anchor: the exact single-ffmpeg ladder reelstream would build for that source
  (``bare_ladder_command``: every rung in one process), run bare into a temp folder; its wall
  time;
* reelstream: a real ``reelstream serve`` process with its embedded worker (one HTTP process,
  ``tests.support.run_server``). The video becomes *playable* once the lead encode's first
  segments are stored and the rev is published while the rest of the ladder is encoded
  (``reelstream.processing.progressive``), *ready* at the final publish. All three instants
  are read from the video's timeline, on the server's clock: the upload stage's ``finished_at``
  (the last tus PATCH acknowledged), the ``playable`` stage's and the ``publish`` stage's
  ``finished_at``. The client polls the video every 0.25 s until it is playable (to verify it at
  that moment), then once a second until it is ready: polling fast on a machine whose cores
  ffmpeg keeps busy would slow down what it measures, and the figures do not depend on it.

"Playable" is verified to be real when the API first says so: the benchmark client fetches the
playback URL (``GET /api/v1/videos/{id}/playback``), the HLS master, every media playlist it
names and each one's init and first segment, and fails unless all answer 200. This happens in
the client, after the server-clock instant, so it proves the figure without adding to it.

The report (appended to docs/benchmarks.md unless ``--no-write``) has the median time to
playable beside Mux's published median for the source's length (videos < 1 min: 2.0 s; 1-5
min: 3.3 s; 5-20 min: 9.0 s; a bucket's border belongs to it), the ready time against the bare
ladder with their ratio (goal ≤ 1.05), and where the time to playable goes, from the timeline's
stages: queue + claim, fetch + probe, planning, the lead's first segments (encoded and stored),
then the publish transaction (from the video's ``updated_at``, after the stage's stamp).

Options: ``--seconds`` and ``--height`` of the generated source, ``--runs`` (medians over them),
``--no-write`` (print only), and ``--cpus LIST`` (a ``taskset -c`` list such as ``0`` or
``0,1``): pins the server's process, with its threads and the ffmpeg processes it starts, and
the anchor's ffmpeg to those CPUs, to measure e.g. one worker on one CPU (the benchmark client
itself is not pinned; it sleeps between polls).

    .venv/bin/python benchmarks/time_to_playable.py [--seconds 60] [--height 1080] [--runs 1]
        [--cpus 0] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import Server, playlist_uris, run_server  # noqa: E402

from benchmarks.common import (  # noqa: E402
    machine,
    make_source,
    parse_args,
    publish,
    tus_upload,
    width_of,
)
from benchmarks.measured_record import Measurement, Run, cpu_count, record, short_machine  # noqa: E402
from benchmarks.playable_report import Report, RunTimes, Verified, markdown, run_times  # noqa: E402
from reelstream.config import Settings  # noqa: E402
from reelstream.media.ffmpeg import bare_ladder_command  # noqa: E402
from reelstream.media.packaging import parse_media_playlist  # noqa: E402
from reelstream.processing.options import ffmpeg_options  # noqa: E402

FAST_POLL_S = 0.25  # until playable
POLL_S = 1.0  # then until ready


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cpus",
        default=None,
        help="pin the server (and its ffmpeg) and the anchor to these CPUs (taskset -c LIST)",
    )


def pinned(argv: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def run_anchor(source: Path, settings: Settings, cpus: str | None) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-anchor-") as out:
        argv = pinned(bare_ladder_command(source, Path(out), ffmpeg_options(settings)), cpus)
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


# -- pinning the server


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc's children lists)."""
    tree: list[int] = []
    todo = [pid]
    while todo and len(tree) < 1000:
        current = todo.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except OSError:
                continue  # the thread (or the process) ended meanwhile
    return tree


def pin_tree(pid: int, cpus: str) -> None:
    """Pin every thread of ``pid`` and of its descendants; processes they start later (the
    ffmpeg encodes) inherit the affinity."""
    for each in process_tree(pid):
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(each)], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip


def check_pinned(pid: int, cpus: str) -> None:
    """Every process of the server's tree (the encodes running now) is on ``cpus`` only."""
    allowed = set(_cpu_list(cpus))
    for each in process_tree(pid):
        try:
            got = os.sched_getaffinity(each)
        except OSError:
            continue
        if not got <= allowed:
            raise RuntimeError(f"process {each} runs on CPUs {sorted(got)}, not {cpus}")


def _cpu_list(text: str) -> list[int]:
    cpus: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        cpus += range(int(first), int(last or first) + 1)
    return cpus


# -- one run


def verify_playable(client: httpx.Client, base: str, video_id: str, status: str) -> Verified:
    """Fetch what a player fetches first: the playback URL, the master, every media playlist
    it names and their init and first segments; all must answer 200."""
    start = time.perf_counter()

    def get(url: str | httpx.URL) -> httpx.Response:
        resp = client.get(url)
        if resp.status_code != 200:
            raise RuntimeError(f"playable, but GET {url} answered {resp.status_code}")
        return resp

    master_url = httpx.URL(get(f"{base}/api/v1/videos/{video_id}/playback").json()["hls_url"])
    master = get(master_url).text
    playlists = [master_url.join(uri) for uri in playlist_uris(master)]
    if not playlists:
        raise RuntimeError(f"playable, but the master names no media playlist:\n{master}")
    growing = segments = 0
    for url in playlists:
        playlist = parse_media_playlist(get(url).text)
        if playlist.init_uri is None or not playlist.segments:
            raise RuntimeError(f"playable, but {url.path} lists no init or no segment")
        growing += not playlist.ended
        for uri in (playlist.init_uri, playlist.segments[0].uri):
            get(url.join(uri))
            segments += 1
    return Verified(status, len(playlists), growing, segments, time.perf_counter() - start)


def run_reelstream(
    source: Path, workdir: Path, seconds: float, cpus: str | None
) -> tuple[RunTimes, Verified]:
    deadline = time.monotonic() + 300 + 30 * seconds  # a bound, far above any expected run
    with run_server(workdir, log_level="WARNING") as server:
        if cpus:
            pin_tree(server.proc.pid, cpus)
        video_id = tus_upload(server.base_url, server.headers, source)
        with httpx.Client(timeout=30, headers=server.headers) as client:
            verified, published_at = _until_playable(client, server, video_id, cpus, deadline)
            _poll(client, server, video_id, {"ready"}, POLL_S, deadline)
            timeline = client.get(f"{server.base_url}/api/v1/videos/{video_id}/timeline")
            timeline.raise_for_status()
    return run_times(timeline.json(), published_at), verified


def _until_playable(
    client: httpx.Client, server: Server, video_id: str, cpus: str | None, deadline: float
) -> tuple[Verified, str | None]:
    video = _poll(client, server, video_id, set(), FAST_POLL_S, deadline, playable=True)
    verified = verify_playable(client, server.base_url, video_id, video["status"])
    if cpus and video["status"] == "processing":
        check_pinned(server.proc.pid, cpus)
    # the row write of the playable publish, unless the video is ready already
    return verified, video["updated_at"] if video["status"] == "processing" else None


def _poll(
    client: httpx.Client,
    server: Server,
    video_id: str,
    statuses: set[str],
    every_s: float,
    deadline: float,
    *,
    playable: bool = False,
) -> dict[str, Any]:
    """Poll the video until its status is in ``statuses`` (or, with ``playable``, until it is
    playable); fail when it failed or at the deadline."""
    while time.monotonic() < deadline:
        time.sleep(every_s)
        video: dict[str, Any] = client.get(f"{server.base_url}/api/v1/videos/{video_id}").json()
        if video["status"] in statuses or (playable and video["playable"]):
            return video
        if video["status"] == "failed":
            raise RuntimeError(f"transcode failed: {video['error']}\n{server.log()}")
    raise RuntimeError(f"video {video_id} did not get there in time\n{server.log()}")


def main() -> None:
    args = parse_args(__doc__ or "", add_options)
    settings = Settings(_env_file=None)
    report = Report(
        seconds=args.seconds,
        width=width_of(args),
        height=args.height,
        runs=args.runs,
        cpus=args.cpus,
        rungs=[f"{r.height}p" for r in settings.ladder if r.height <= args.height],
        preset=settings.x264_preset,
        machine=machine(),
        date=str(dt.date.today()),
    )
    with tempfile.TemporaryDirectory(prefix="reelstream-bench-") as tmp:
        tmpdir = Path(tmp)
        source = make_source(tmpdir, args)
        for n in range(args.runs):
            report.anchor.append(run_anchor(source, settings, args.cpus))
            times, verified = run_reelstream(source, tmpdir / f"run{n}", args.seconds, args.cpus)
            report.times.append(times)
            report.verified.append(verified)
            print(
                f"run {n + 1}: playable {times.playable_s:.2f} s, ready {times.ready_s:.2f} s, "
                f"anchor {report.anchor[-1]:.2f} s; verified {verified}"
            )
            print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in times.parts.items()))
    publish(markdown(report), args)
    if not args.no_write:
        record_figures(report)


def record_figures(report: Report) -> None:
    """The run's time to ready and to playable in src/reelstream/capacity/measured.json."""
    section = f"Time to playable and to ready vs Mux and the bare ffmpeg ladder ({report.date})"
    run = Run(
        "docs/benchmarks.md", section, report.command(), short_machine(report.machine), report.date
    )
    cores = cpu_count(report.cpus) if report.cpus else os.cpu_count() or 1
    shape = {"video_s": report.seconds, "height": report.height}
    tag = f"{report.seconds:g}s_{report.height}p"
    ready = statistics.median(t.ready_s for t in report.times)
    playable = statistics.median(t.playable_s for t in report.times)
    record(
        run,
        [
            Measurement(
                f"transcode_ready_s_{tag}",
                round(ready, 2),
                "s",
                "reelstream upload complete -> ready",
                cores,
                extra=shape,
            ),
            Measurement(
                f"playable_s_{tag}",
                round(playable, 2),
                "s",
                "reelstream upload complete -> playable",
                cores,
                extra=shape,
            ),
        ],
    )


if __name__ == "__main__":
    main()
