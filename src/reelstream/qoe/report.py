"""One session's QoE report: the beacon's fields read and checked, merged with what was
stored before, and the outcome a session counts under.

The player sends cumulative figures (everything since its session began), several times per
session (on start, every 30 s while playing, on a fatal error and when the page goes away),
and ``navigator.sendBeacon`` may deliver them out of order. So a report never replaces the
stored one blindly: ``merge`` keeps each figure's largest value (they only grow), the first
startup time and error, and the averages (bitrate, upscaling) of whichever report covered more
watch time. Merging the same report twice changes nothing: the beacon is idempotent.

Bounds (a clear 422 otherwise): times 0..86400 s (a session longer than a day is not a
player's), startup 0..600 s, counts 0..100000, bitrate 0..10^9 bit/s, upscaling 0..1000 %,
rebuffering within the watch time, an error a short code (``hls:networkError:fragLoadError``),
never free text.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, TypeVar

from reelstream.qoe.errors import InvalidQoeBeacon

SESSION_ID = re.compile(r"\A[A-Za-z0-9_-]{8,64}\Z")  # as the view beacons (videos.beacons)
ERROR_CODE = re.compile(r"\A[A-Za-z][A-Za-z0-9_.:-]{0,63}\Z")
ENGINES = ("hls", "dash", "native")
OUTCOMES = ("played", "failed", "exited_before_start")

MAX_SESSION_S = 86400.0
MAX_STARTUP_S = 600.0
MAX_COUNT = 100_000
MAX_BITRATE_BPS = 1_000_000_000
MAX_UPSCALE_PCT = 1000.0
_T = TypeVar("_T", float, str)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    """A session's cumulative figures (the ``qoe_sessions`` row's)."""

    engine: str = ""
    started: bool = False
    exited: bool = False
    startup_s: float | None = None
    watch_s: float = 0.0
    rebuffer_s: float = 0.0
    rebuffer_count: int = 0
    switches: int = 0
    bitrate_bps: int = 0
    upscale_pct: float = 0.0
    error: str | None = None

    @property
    def outcome(self) -> str | None:
        """How the session began: ``played`` (a first frame), ``failed`` (a fatal error before
        one), ``exited_before_start`` (the page went away before one), None (not yet known)."""
        if self.started:
            return "played"
        if self.error is not None:
            return "failed"
        if self.exited:
            return "exited_before_start"
        return None


def merge(old: Report | None, new: Report) -> Report:
    """``new`` on top of ``old`` (either may be the later one; see the module docstring)."""
    if old is None:
        return new
    started = old.started or new.started
    longer = new if new.watch_s >= old.watch_s else old
    return Report(
        engine=new.engine or old.engine,
        started=started,
        exited=(old.exited or new.exited) and not started,
        startup_s=_least(old.startup_s, new.startup_s),
        watch_s=max(old.watch_s, new.watch_s),
        rebuffer_s=max(old.rebuffer_s, new.rebuffer_s),
        rebuffer_count=max(old.rebuffer_count, new.rebuffer_count),
        switches=max(old.switches, new.switches),
        bitrate_bps=longer.bitrate_bps or old.bitrate_bps or new.bitrate_bps,
        upscale_pct=longer.upscale_pct,
        error=_least(old.error, new.error),
    )


def _least(a: _T | None, b: _T | None) -> _T | None:
    """The smaller of two values either of which may be missing: a player sends the same
    startup time and first error in every report, so this only makes merging order-free."""
    if a is None or b is None:
        return b if a is None else a
    return min(a, b)


def session_id(fields: dict[str, Any]) -> str:
    value = fields.get("session")
    if not isinstance(value, str) or not SESSION_ID.fullmatch(value):
        raise InvalidQoeBeacon("session must be the player's session id: 8-64 of A-Z a-z 0-9 _ -")
    return value


def parse(fields: dict[str, Any]) -> Report:
    """The report in a beacon's fields (form strings or JSON values); unknown fields (the
    CSRF token, the session) are ignored."""
    engine = _text(fields, "engine") or ""
    if engine and engine not in ENGINES:
        raise InvalidQoeBeacon(f"engine must be one of {', '.join(ENGINES)}")
    started = _flag(fields, "started")
    exited = _flag(fields, "exited")
    if started and exited:
        raise InvalidQoeBeacon(
            "exited means the page went away before the first frame: not with started=1"
        )
    startup = _number(fields, "startup_s", MAX_STARTUP_S)
    if started and startup is None:
        raise InvalidQoeBeacon("startup_s is required once started=1")
    if not started and startup is not None:
        raise InvalidQoeBeacon("startup_s is only known once the first frame showed (started=1)")
    watch = _number(fields, "watch_s", MAX_SESSION_S) or 0.0
    rebuffer = _number(fields, "rebuffer_s", MAX_SESSION_S) or 0.0
    if rebuffer > watch + 0.01:
        raise InvalidQoeBeacon("rebuffer_s is part of watch_s: it cannot be larger")
    error = _text(fields, "error")
    if error is not None and not ERROR_CODE.fullmatch(error):
        raise InvalidQoeBeacon("error must be a short code (A-Z a-z 0-9 _ . : -, at most 64)")
    return Report(
        engine=engine,
        started=started,
        exited=exited,
        startup_s=startup,
        watch_s=watch,
        rebuffer_s=rebuffer,
        rebuffer_count=_integer(fields, "rebuffer_count", MAX_COUNT),
        switches=_integer(fields, "switches", MAX_COUNT),
        bitrate_bps=_integer(fields, "bitrate_bps", MAX_BITRATE_BPS),
        upscale_pct=_number(fields, "upscale_pct", MAX_UPSCALE_PCT) or 0.0,
        error=error,
    )


def _text(fields: dict[str, Any], name: str) -> str | None:
    raw = fields.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InvalidQoeBeacon(f"{name} must be a string")
    return raw


def _flag(fields: dict[str, Any], name: str) -> bool:
    raw = fields.get(name)
    if raw is None or isinstance(raw, bool):
        return bool(raw)
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise InvalidQoeBeacon(f"{name} must be 0 or 1")


def _number(fields: dict[str, Any], name: str, high: float) -> float | None:
    raw = fields.get(name)
    if raw is None or raw == "":
        return None
    try:
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise TypeError(raw)
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidQoeBeacon(f"{name} must be a number") from exc
    if not math.isfinite(value) or not 0 <= value <= high:
        raise InvalidQoeBeacon(f"{name} must be between 0 and {high:g}")
    return value


def _integer(fields: dict[str, Any], name: str, high: int) -> int:
    value = _number(fields, name, high)
    if value is None:
        return 0
    if value != int(value):
        raise InvalidQoeBeacon(f"{name} must be a whole number")
    return int(value)
