"""``reelstream videos``: list a server's videos (newest first), following the page cursor."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click
import httpx
from rich.console import Console
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

STATUSES = ("uploading", "queued", "processing", "ready", "failed")
MAX_PAGE = 100
_STATUS_STYLE = {
    "ready": "green",
    "failed": "red",
    "processing": "yellow",
    "queued": "yellow",
    "uploading": "blue",
}


def fetch_videos(
    http: httpx.Client, server: str, *, status: str | None, limit: int, mine: bool = False
) -> list[dict[str, Any]]:
    """Up to ``limit`` videos, page after page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(items) < limit:
        params: dict[str, str | int] = {"limit": min(MAX_PAGE, limit - len(items))}
        if status:
            params["status"] = status
        if mine:
            params["owner"] = "me"
        if cursor:
            params["cursor"] = cursor
        r = http.get(f"{server}/api/v1/videos", params=params)
        if r.status_code != 200:
            raise ServerError(f"cannot list videos: {server_message(r.status_code, r.text)}")
        page = r.json()
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor or not page["items"]:
            break
    return items[:limit]


def _created(value: str) -> str:
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def _renditions(video: dict[str, Any]) -> str:
    heights = sorted({r["height"] for r in video.get("renditions", []) if r.get("ready")})
    return " ".join(f"{h}p" for h in heights) or "-"


def render_table(videos: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(videos)} video(s)", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("title", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("duration", justify="right")
    table.add_column("renditions")
    table.add_column("created", no_wrap=True)
    for v in videos:
        status = str(v["status"])
        style = _STATUS_STYLE.get(status, "")
        table.add_row(
            escape(str(v["id"])),
            escape(str(v["title"])),
            f"[{style}]{status}[/{style}]" if style else status,
            clock(v.get("duration_s"), missing="-"),
            _renditions(v),
            _created(str(v.get("created_at", ""))),
        )
    return table


@click.command("videos")
@server_option
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only this status.")
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="At most N."
)
@click.option("--json", "as_json", is_flag=True, help="Print the videos as a JSON array.")
@click.option("--mine", is_flag=True, help="Your own videos, every visibility (needs --token).")
@token_option("needed for --mine; without one, the public videos")
def videos(
    server: str, status: str | None, limit: int, as_json: bool, mine: bool, token: str | None
) -> None:
    """List the public videos on a reelstream server (or with --mine your own), newest first."""
    try:
        with httpx.Client(timeout=30, headers=auth_headers(token)) as http:
            items = fetch_videos(http, server, status=status, limit=limit, mine=mine)
    except httpx.HTTPError as exc:
        raise unreachable(server, exc) from None
    except (ValueError, KeyError) as exc:
        raise ServerError(f"unexpected answer from {server}: {exc}") from None
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    Console(markup=True).print(render_table(items))
