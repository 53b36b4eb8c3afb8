"""What the benchmarks share: their command line, the generated source, the machine line of
a report, server timestamps, a tus upload, and appending a report to a file of docs/
(benchmarks.md by default)."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
from tests.support import FFMPEG, make_clip

ROOT = Path(__file__).resolve().parents[1]


def parse_args(
    doc: str, extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    """The options every benchmark takes, and the ones ``extra`` adds."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    if extra is not None:
        extra(parser)
    return parser.parse_args()


def width_of(args: argparse.Namespace) -> int:
    return int(args.height * 16 // 9)


def make_source(folder: Path, args: argparse.Namespace) -> Path:
    """The generated source: ``--seconds`` of 16:9 ``--height``p30 H.264 at 8 Mb/s + AAC."""
    return make_clip(
        folder / "source.mp4",
        seconds=args.seconds,
        width=width_of(args),
        height=args.height,
        extra=["-b:v", "8M"],
    )


def machine() -> str:
    version = subprocess.run(
        [FFMPEG, "-version"], capture_output=True, text=True, check=True
    ).stdout.split("\n")[0]
    return f"Machine: {os.cpu_count()} cores, {platform.machine()}, {version}."


def server_time(text: str | None) -> float:
    """A timeline timestamp (ISO 8601, the server's clock) as seconds since the epoch."""
    assert text is not None
    return dt.datetime.fromisoformat(text).timestamp()


def publish(report: str, args: argparse.Namespace, name: str = "benchmarks.md") -> None:
    """Print ``report`` and, unless ``--no-write``, append it to ``docs/NAME``."""
    print(report)
    if args.no_write:
        return
    path = ROOT / "docs" / name
    if not path.exists():
        path.write_text("# Benchmarks\n\nEach section is one run of the command it names.\n")
    with path.open("a") as fh:
        fh.write(report)


def tus_upload(base_url: str, headers: dict[str, str], source: Path) -> str:
    """Upload ``source`` over tus (8 MiB PATCHes) as the given caller; its video id."""
    size = source.stat().st_size
    meta = "filename " + base64.b64encode(source.name.encode()).decode()
    with httpx.Client(timeout=120, headers=headers) as client:
        created = client.post(
            f"{base_url}/api/v1/uploads",
            headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(size), "Upload-Metadata": meta},
        )
        created.raise_for_status()
        upload_url = httpx.URL(base_url).join(created.headers["Location"])
        offset = 0
        with source.open("rb") as fh:
            while offset < size:
                resp = client.patch(
                    upload_url,
                    content=fh.read(8 * 1024 * 1024),
                    headers={
                        "Tus-Resumable": "1.0.0",
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                    },
                )
                resp.raise_for_status()
                offset = int(resp.headers["Upload-Offset"])
    return str(created.headers["Video-Id"])
