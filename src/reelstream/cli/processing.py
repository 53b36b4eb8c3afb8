"""``reelstream timeline VIDEO_ID`` and ``reelstream retry VIDEO_ID``: a video's processing
stage by stage (``--follow``: redrawn until nothing runs), and a retry of a failed video or of
failed renditions, over the HTTP API (``GET .../timeline``, ``POST .../retry``)."""

from __future__ import annotations

import json
import time
from typing import Any

import click
import httpx
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from reelstream.cli.remote import (
    ServerError,
    auth_headers,
    server_message,
    server_option,
    token_option,
    unreachable,
)
from reelstream.formatting import clock
from reelstream.processing.timeline import rendition_label

FOLLOW_EVERY_S = 1.0
_STATE_STYLE = {
    "done": "green",
    "running": "yellow",
    "failed": "red",
    "pending": "dim",
    "skipped": "dim",
}


def stage_name(stage: dict[str, Any]) -> str:
    if stage["name"] == "encode" and stage.get("rendition"):
        return f"encode {rendition_label(stage['rendition'])}"
    return str(stage["name"])


def summary(timeline: dict[str, Any]) -> str:
    status = timeline["status"]
    if status in ("queued", "processing"):
        text = f"{status} · {timeline['progress'] * 100:.0f}%"
        if timeline.get("eta_s") is not None:
            text += f" · about {clock(timeline['eta_s'])} left"
        return text
    if status == "failed":
        text = f"failed: {timeline.get('error') or 'unknown reason'}"
        if timeline.get("retryable") is False:  # the file itself: another try fails the same
            text += " (retrying will not help: upload a different file)"
        return text
    failed = [s for s in timeline["stages"] if s["state"] == "failed"]
    if status == "ready" and failed:
        names = ", ".join(rendition_label(s["rendition"] or s["name"]) for s in failed)
        return f"ready, without {names}"
    return str(status)


def render(timeline: dict[str, Any]) -> Table:
    table = Table(
        title=f"{timeline['video_id']}: {escape(summary(timeline))}", title_justify="left"
    )
    for column in ("stage", "state", "progress", "detail"):
        table.add_column(column)
    for stage in timeline["stages"]:
        style = _STATE_STYLE.get(stage["state"], "")
        note = stage.get("error") or stage.get("detail") or ""
        table.add_row(
            stage_name(stage),
            f"[{style}]{stage['state']}[/]" if style else stage["state"],
            f"{stage['progress'] * 100:.0f}%" if stage["state"] == "running" else "",
            escape(note),
        )
    return table


def _active(timeline: dict[str, Any]) -> bool:
    job = timeline.get("job") or {}
    return timeline["status"] in ("uploading", "queued", "processing") or job.get("state") in (
        "queued",
        "running",
    )


def fetch_timeline(http: httpx.Client, server: str, video_id: str) -> dict[str, Any]:
    r = http.get(f"{server}/api/v1/videos/{video_id}/timeline")
    if r.status_code != 200:
        raise ServerError(f"cannot read the timeline: {server_message(r.status_code, r.text)}")
    data: dict[str, Any] = r.json()
    return data


@click.command("timeline")
@click.argument("video_id")
@server_option
@click.option("--follow", is_flag=True, help="Redraw every second until nothing runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as JSON.")
@token_option("needed for a private video (its owner's or an admin's)")
def timeline(video_id: str, server: str, follow: bool, as_json: bool, token: str | None) -> None:
    """Show a video's processing, stage by stage: state, progress, reasons.

    Exit status 1 when the video failed (also with --json, and with --follow once it
    settles), 0 otherwise (a ready video without some renditions included).
    """
    console = Console(markup=True)
    try:
        with httpx.Client(timeout=30, headers=auth_headers(token)) as http:
            data = fetch_timeline(http, server, video_id)
            if as_json:
                click.echo(json.dumps(data, indent=2))
            elif not follow or not _active(data):
                console.print(render(data))
            else:
                with Live(render(data), console=console, auto_refresh=False) as live:
                    while _active(data):
                        time.sleep(FOLLOW_EVERY_S)
                        data = fetch_timeline(http, server, video_id)
                        live.update(render(data), refresh=True)
    except httpx.HTTPError as exc:
        raise unreachable(server, exc) from None
    if data["status"] == "failed":
        raise SystemExit(1)


@click.command("retry")
@click.argument("video_id")
@server_option
@click.option(
    "--rendition",
    "renditions",
    multiple=True,
    metavar="NAME",
    help="Retry this failed rendition (e.g. v720) of a ready video; repeat for several. "
    "Without it: the whole failed video.",
)
@token_option("retries need one (the write scope, of the owner or an admin)")
def retry(video_id: str, server: str, renditions: tuple[str, ...], token: str | None) -> None:
    """Retry a failed video, or failed renditions, without uploading it again."""
    paths = [f"/renditions/{name}/retry" for name in renditions] or ["/retry"]
    try:
        with httpx.Client(timeout=30, headers=auth_headers(token)) as http:
            for path in paths:
                r = http.post(f"{server}/api/v1/videos/{video_id}{path}")
                if r.status_code != 202:
                    raise ServerError(f"cannot retry: {server_message(r.status_code, r.text)}")
    except httpx.HTTPError as exc:
        raise unreachable(server, exc) from None
    job = r.json().get("job") or {}
    what = ", ".join(renditions) if renditions else "the video"
    click.echo(
        f"queued {what} again (job {job.get('id')}); follow it with: "
        f"reelstream timeline {video_id} --follow"
    )
