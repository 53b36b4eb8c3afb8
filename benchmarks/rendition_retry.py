"""Benchmark: retrying one failed rendition against encoding that rendition with bare ffmpeg.

Both sides run in the same invocation on the same machine and the same generated source:

* anchor: the exact single-rendition ffmpeg command reelstream builds for the top rendition
  (the same keyframe grid and segmenting as the ladder), run bare into a temp folder;
* reelstream: a real ``reelstream serve`` whose encoder fails the top rendition (a wrapper
  around the real ffmpeg, as in the tests), so the video is published without it; then the
  encoder is mended and ``POST /api/v1/videos/{id}/renditions/{name}/retry`` is timed from the
  request to the new rev being published (the rendition job's publish stage, on the server's
  clock): encode, copy of the other renditions' files into the new rev, manifests, publish.

Also printed: how long the first, degraded transcode took (the ladder failing, then each
rendition encoded on its own). Results are appended to docs/benchmarks.md unless --no-write.

    .venv/bin/python benchmarks/rendition_retry.py [--seconds 60] [--height 1080] [--runs 1]
"""

from __future__ import annotations

import base64
import datetime as dt
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

from tests.support import FaultyFFmpeg, run_server  # noqa: E402

from benchmarks.common import (  # noqa: E402
    machine,
    make_source,
    parse_args,
    publish,
    server_time,
    width_of,
)
from reelstream.config import Settings  # noqa: E402
from reelstream.media.ffmpeg import build_ladder_argv  # noqa: E402
from reelstream.media.ladder import plan_ladder  # noqa: E402
from reelstream.media.probe import probe_file, sniff_file  # noqa: E402
from reelstream.processing.options import ffmpeg_options, probe_limits  # noqa: E402

POLL_S = 1.0


def run_anchor(source: Path, settings: Settings) -> float:
    options = ffmpeg_options(settings)
    info = probe_file(source, options.limits)
    container = sniff_file(source, options.limits)
    rungs = plan_ladder(settings.ladder, info.width, info.height, info.fps, vfr=info.vfr)
    with tempfile.TemporaryDirectory(prefix="bench-anchor-") as out:
        argv = build_ladder_argv(
            options,
            source,
            Path(out),
            container=container,
            info=info,
            rungs=[rungs[-1]],
            with_audio=False,
        )
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


def _wait(client: httpx.Client, url: str, done: Any) -> dict[str, Any]:
    while True:
        time.sleep(POLL_S)
        timeline: dict[str, Any] = client.get(url).json()
        if done(timeline):
            return timeline
        if timeline["status"] == "failed":
            raise RuntimeError(f"transcode failed: {timeline['error']}")


def run_reelstream(source: Path, workdir: Path, top: str) -> tuple[float, float]:
    """(seconds of the degraded first transcode, seconds of the rendition retry)."""
    faulty = FaultyFFmpeg(workdir / "faulty")
    faulty.fail_on(f"name:{top}")
    with run_server(workdir / "data", log_level="WARNING", ffmpeg_path=faulty.path) as server:
        base = server.base_url
        data = source.read_bytes()
        meta = "filename " + base64.b64encode(source.name.encode()).decode()
        with httpx.Client(timeout=300, headers=server.headers) as client:
            created = client.post(
                f"{base}/api/v1/uploads",
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Upload-Length": str(len(data)),
                    "Upload-Metadata": meta,
                    "Content-Type": "application/offset+octet-stream",
                },
                content=data,
            )
            created.raise_for_status()
            vid = created.headers["Video-Id"]
            url = f"{base}/api/v1/videos/{vid}/timeline"
            first = _wait(client, url, lambda t: t["status"] == "ready")
            stages = {(s["name"], s["rendition"]): s for s in first["stages"]}
            degraded = server_time(stages[("publish", None)]["finished_at"]) - server_time(
                stages[("upload", None)]["finished_at"]
            )
            assert stages[("encode", top)]["state"] == "failed", stages[("encode", top)]
            faulty.heal()
            asked = time.time()
            r = client.post(f"{base}/api/v1/videos/{vid}/renditions/{top}/retry")
            r.raise_for_status()
            job_id = r.json()["job"]["id"]

            def retried(t: dict[str, Any]) -> bool:
                job = t.get("job") or {}
                return job.get("id") == job_id and job.get("state") == "succeeded"

            _wait(client, url, retried)
            jobs = client.get(f"{base}/api/v1/admin/jobs", params={"kind": "rendition"}).json()[
                "items"
            ]
            [job] = [j for j in jobs if j["id"] == job_id]
            return degraded, server_time(job["finished_at"]) - asked


def main() -> None:
    args = parse_args(__doc__ or "")
    width = width_of(args)
    settings = Settings(_env_file=None)

    with tempfile.TemporaryDirectory(prefix="reelstream-bench-") as tmp:
        tmpdir = Path(tmp)
        source = make_source(tmpdir, args)
        info = probe_file(source, probe_limits(settings))
        rungs = plan_ladder(settings.ladder, info.width, info.height, info.fps, vfr=info.vfr)
        top = rungs[-1].name
        anchor, retries, degraded = [], [], []
        for n in range(args.runs):
            anchor.append(run_anchor(source, settings))
            first, again = run_reelstream(source, tmpdir / f"run{n}", top)
            degraded.append(first)
            retries.append(again)
            print(
                f"run {n + 1}: anchor {anchor[-1]:.2f} s, retry {again:.2f} s "
                f"(degraded first transcode {first:.2f} s)"
            )
    a, r = statistics.median(anchor), statistics.median(retries)
    report = (
        f"\n## Rendition retry vs bare ffmpeg for that rendition ({dt.date.today()})\n\n"
        f"Command: `.venv/bin/python benchmarks/rendition_retry.py --seconds {args.seconds:g} "
        f"--height {args.height} --runs {args.runs}`\n\n"
        f"Source: {args.seconds:g} s {width}x{args.height} 30 fps H.264 + AAC (generated); the "
        f"{top} rendition fails in the first transcode, then is retried. Preset "
        f"{settings.x264_preset}. {machine()}\n\n"
        "| | median wall time (s) | runs (s) |\n|---|---|---|\n"
        f"| bare ffmpeg, {top} alone (anchor) | {a:.2f} | "
        f"{', '.join(f'{x:.2f}' for x in anchor)} |\n"
        f"| reelstream retry request -> new rev published | {r:.2f} | "
        f"{', '.join(f'{x:.2f}' for x in retries)} |\n"
        f"| **ratio reelstream / anchor** | **{r / a:.2f}** | |\n"
        f"| (the degraded first transcode: ladder failed, renditions one by one) | "
        f"{statistics.median(degraded):.2f} | {', '.join(f'{x:.2f}' for x in degraded)} |\n"
    )
    publish(report, args)


if __name__ == "__main__":
    main()
