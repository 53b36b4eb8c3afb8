"""A QoE report read from a beacon's fields (bounds, types, contradictions), merged with the
stored one whatever the order, and what each change adds to the metrics (once per session,
by deltas of the cumulative figures)."""

from __future__ import annotations

from typing import Any

import pytest

from reelstream.qoe.errors import InvalidQoeBeacon
from reelstream.qoe.metrics import delta
from reelstream.qoe.report import Report, merge, parse, session_id

PLAYING = {
    "engine": "hls",
    "started": "1",
    "startup_s": "0.84",
    "watch_s": "30.5",
    "rebuffer_s": "1.25",
    "rebuffer_count": "2",
    "switches": "1",
    "bitrate_bps": "1200000",
    "upscale_pct": "12.5",
    "csrf_token": "ignored",
}


def test_a_form_report_is_read_with_its_types() -> None:
    r = parse(PLAYING)
    assert r == Report(
        engine="hls",
        started=True,
        startup_s=0.84,
        watch_s=30.5,
        rebuffer_s=1.25,
        rebuffer_count=2,
        switches=1,
        bitrate_bps=1_200_000,
        upscale_pct=12.5,
    )
    assert r.outcome == "played"
    assert parse({"started": True, "startup_s": 1, "watch_s": 2}).startup_s == 1.0  # JSON
    assert parse({"error": "hls:networkError:manifestLoadError"}).outcome == "failed"
    assert parse({"exited": "1"}).outcome == "exited_before_start"
    assert parse({}).outcome is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"startup_s": "-1"}, "startup_s must be between 0 and 600"),
        ({"startup_s": "nan"}, "startup_s must be between"),
        ({"startup_s": ""}, "startup_s is required once started=1"),
        ({"watch_s": "1e9"}, "watch_s must be between 0 and 86400"),
        ({"watch_s": "abc"}, "watch_s must be a number"),
        ({"watch_s": [1]}, "watch_s must be a number"),
        ({"rebuffer_s": "31"}, "rebuffer_s is part of watch_s"),
        ({"rebuffer_count": "1.5"}, "rebuffer_count must be a whole number"),
        ({"switches": "100001"}, "switches must be between"),
        ({"bitrate_bps": "-5"}, "bitrate_bps must be between"),
        ({"upscale_pct": "5000"}, "upscale_pct must be between 0 and 1000"),
        ({"started": "maybe"}, "started must be 0 or 1"),
        ({"exited": "1"}, "exited means the page went away before the first frame"),
        ({"engine": "flash"}, "engine must be one of hls, dash, native"),
        ({"error": "TypeError: x is undefined at line 3"}, "error must be a short code"),
        ({"error": "x" * 65}, "error must be a short code"),
        ({"error": 5}, "error must be a string"),
    ],
)
def test_every_field_is_checked(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidQoeBeacon) as caught:
        parse({**PLAYING, **change})
    assert reason in caught.value.message
    assert caught.value.status == 422


def test_startup_before_the_first_frame_is_refused() -> None:
    with pytest.raises(InvalidQoeBeacon, match="only known once the first frame"):
        parse({"startup_s": "1"})


@pytest.mark.parametrize("bad", [None, "", "short", "x" * 65, "has space!", 12345678])
def test_the_session_id_is_checked(bad: object) -> None:
    with pytest.raises(InvalidQoeBeacon, match="session"):
        session_id({"session": bad})
    assert session_id({"session": "abcdef0123456789"}) == "abcdef0123456789"


def test_merging_keeps_the_largest_figures_in_any_order_and_is_idempotent() -> None:
    first = parse({"started": "1", "startup_s": "0.5", "watch_s": "10", "bitrate_bps": "800000"})
    later = parse(
        {
            "started": "1",
            "startup_s": "0.7",  # a later report cannot move the startup
            "watch_s": "40",
            "rebuffer_s": "2",
            "rebuffer_count": "1",
            "bitrate_bps": "1500000",
            "error": "hls:mediaError:bufferStalledError",
        }
    )
    a, b = merge(first, later), merge(later, first)
    assert a == b
    assert (a.startup_s, a.watch_s, a.rebuffer_s, a.bitrate_bps) == (0.5, 40, 2, 1_500_000)
    assert a.error == "hls:mediaError:bufferStalledError"
    assert merge(a, later) == a and merge(a, a) == a
    # a session that went hidden before its first frame and then played after all
    assert merge(parse({"exited": "1"}), first).exited is False


def test_deltas_count_each_session_once_and_each_second_once() -> None:
    start = parse({"started": "1", "startup_s": "0.9", "watch_s": "0.5", "bitrate_bps": "900000"})
    d1 = delta(None, start)
    assert (d1.outcome, d1.startup_s, d1.watch_s, d1.bitrate_observations) == (
        "played", 0.9, 0.5, 1,
    )  # fmt: skip
    mid = merge(start, parse({**PLAYING, "watch_s": "65", "startup_s": "0.9"}))
    d2 = delta(start, mid)
    assert d2.outcome is None and d2.startup_s is None  # counted at the start already
    assert d2.watch_s == pytest.approx(64.5)
    assert (d2.rebuffer_s, d2.rebuffers) == (1.25, 2)
    assert d2.bitrate_observations == 1  # a further full minute watched
    repeated = delta(mid, merge(mid, start))  # the start beacon arrives again, late
    assert repeated == delta(mid, mid)
    assert (repeated.watch_s, repeated.rebuffers, repeated.outcome, repeated.startup_s) == (
        0, 0, None, None,
    )  # fmt: skip
    assert repeated.bitrate_observations == 0 and not repeated.failed
    failed = merge(mid, parse({"error": "dash:27"}))
    d3 = delta(mid, failed)
    assert d3.failed and d3.outcome is None  # a failure after the start: once, not an outcome
    assert not delta(failed, failed).failed
