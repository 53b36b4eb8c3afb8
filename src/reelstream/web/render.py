"""Rendering of the server pages: the Jinja environment (autoescaping on), its filters and
the context every page's header needs. Used by ``pages``, ``account`` and ``admin`` alike."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from reelstream.auth.deps import Principal
from reelstream.formatting import clock

if TYPE_CHECKING:
    from reelstream.services import Services

WEB_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"


# -- formatting helpers (also used by the tests) -------------------------------------------


def format_duration(seconds: float | None) -> str:
    """``75.4`` -> ``1:15``; ``3725`` -> ``1:02:05``; unknown -> an em dash."""
    return clock(seconds)


def format_bitrate(bits_per_s: int | None) -> str:
    if not bits_per_s:
        return "—"
    if bits_per_s >= 1_000_000:
        return f"{bits_per_s / 1_000_000:.1f} Mbps"
    return f"{round(bits_per_s / 1000)} kbps"


def format_when(when: dt.datetime | None) -> str:
    if when is None:
        return ""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


_AGO_UNITS: tuple[tuple[str, int], ...] = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("week", 7 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
)


def format_ago(when: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """How long ago, in the largest whole unit: ``3 days ago``, ``1 hour ago``, ``just now``
    (under a minute, or a clock slightly ahead); unknown -> empty. Months are 30 days, years
    365: a rough figure next to the exact date (``<time title>``)."""
    if when is None:
        return ""
    seconds = ((now or dt.datetime.now(dt.UTC)) - when).total_seconds()
    for unit, size in _AGO_UNITS:
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


def short_side(width: int | None, height: int | None) -> int | None:
    """The ``p`` number of a rendition: its short side (a 720x1280 portrait is 720p, as the
    ladder names it: ``v720``)."""
    sides = [side for side in (width, height) if side]
    return min(sides) if sides else None


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = format_duration
    env.filters["bitrate"] = format_bitrate
    env.filters["when"] = format_when
    env.filters["ago"] = format_ago
    return env


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _environment().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def page_context(services: Services, user: Principal | None) -> dict[str, Any]:
    """What every page's header needs: the signed-in user and the session's CSRF token."""
    return {
        "user": user,
        "csrf_token": user.csrf_token if user is not None else None,
        "signup_enabled": services.settings.allow_signup,
    }
