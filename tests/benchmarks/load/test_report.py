"""Percentiles, and the per-phase report built from recorded samples."""

from __future__ import annotations

from typing import Any

import pytest
from benchmarks.load.profile import Profile
from benchmarks.load.recorder import Recorder, Sample, ServerSample, UploadResult, ViewerSession
from benchmarks.load.report import (
    build,
    percentile,
    recovery_s,
    render_markdown,
)


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 100) == 100
    assert percentile([3.0], 95) == 3.0
    assert percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0  # order does not matter


def _recorder() -> Recorder:
    rec = Recorder(max_requests=1000)
    # before (0-10 s): ten fast API gets, one 429; segments that were HITs and one MISS
    rec.samples += [Sample(float(i), "api.get", 0.010, 200) for i in range(10)]
    rec.samples.append(Sample(5.0, "api.get", 0.001, 429))
    rec.samples += [Sample(1.0, "segment", 0.002, 200, cache="HIT") for _ in range(3)]
    rec.samples.append(Sample(2.0, "segment", 0.050, 200, cache="MISS"))
    # during (10-20 s): slow gets, two shed with 503, a failed segment (reset)
    rec.samples += [Sample(10.0 + i, "api.get", 0.200, 200) for i in range(5)]
    rec.samples += [Sample(12.0, "api.get", 0.001, 503), Sample(13.0, "api.get", 0.001, 503)]
    rec.samples.append(Sample(14.0, "segment", 1.0, 0, error="ReadError"))
    # after (20-30 s)
    rec.samples += [Sample(21.0 + i, "api.get", 0.012, 200) for i in range(5)]
    rec.viewers += [
        ViewerSession(1.0, "a", startup_s=0.2, play_s=8.0),
        ViewerSession(2.0, "b", startup_s=0.4, stalls=1, stall_s=2.0, play_s=8.0),
        ViewerSession(15.0, "c", failed={"segment": 1}, outcome="failed"),
    ]
    rec.uploads += [
        UploadResult(3.0, "v1", 100, acknowledged=True, interruptions=1, resumes=1),
        UploadResult(16.0, "v2", 100, error="patch: 500"),
        UploadResult(29.0, "v3", 100),  # still sending when the run ended
    ]
    # the origin's /media counter and the queue depth, sampled once a second
    for t, fetched, queued in [(0.5, 10, 0), (9.5, 14, 2), (15.0, 20, 7), (25.0, 21, 1)]:
        rec.server.append(
            ServerSample(
                t, "http://o/metrics", {"origin_media_requests": fetched, "jobs.queued": queued}
            )
        )
    return rec


def test_the_report_splits_counts_and_percentiles_by_phase() -> None:
    profile = Profile("spike", baseline_s=10, ramp_s=2, hold_s=8, recovery_s=10)
    report = build(_recorder(), profile, {"base_url": "http://127.0.0.1:1"})
    before, during, after = report["phases"]
    assert [p["phase"] for p in report["phases"]] == ["before", "during", "after"]

    gets = before["requests"]["api.get"]
    assert gets["count"] == 11 and gets["served"] == 10
    assert gets["p50_ms"] == pytest.approx(10.0) and gets["p99_ms"] == pytest.approx(10.0)
    assert gets["errors"] == {"429": 1}
    assert before["api"]["limited_429"] == 1 and before["api"]["shed_503"] == 0
    assert before["edge"]["hit_ratio"] == pytest.approx(0.75)
    assert before["edge"]["cache_status"] == {"HIT": 3, "MISS": 1}
    assert before["origin_fetches"] == 4  # 10 -> 14 within the phase
    assert before["viewers"]["started"] == 2
    assert before["viewers"]["startup_p50_ms"] == pytest.approx(300.0)
    assert before["viewers"]["stalls"] == 1
    assert before["viewers"]["rebuffer_ratio"] == pytest.approx(2.0 / 18.0, abs=1e-5)
    assert before["uploads"] == {
        "started": 1,
        "acknowledged": 1,
        "failed": 0,
        "interruptions": 1,
        "resumes": 1,
    }
    assert before["server"]["queue_depth_max"] == 2

    assert during["api"]["shed_503"] == 2
    assert during["requests"]["api.get"]["p50_ms"] == pytest.approx(200.0)
    assert during["errors_by_status"] == {"503": 2, "exception": 1}
    assert during["requests"]["segment"]["errors"] == {"ReadError": 1}
    assert during["viewers"]["failed_requests"] == 1
    assert during["viewers"]["failed_by_kind"] == {"segment": 1}
    assert during["uploads"]["failed"] == 1
    assert during["origin_fetches"] == 6  # 14 (last before) -> 20
    assert during["server"]["queue_depth_max"] == 7

    assert after["requests"]["api.get"]["count"] == 5
    assert report["total"]["requests"]["api.get"]["count"] == 23
    assert report["acknowledged_uploads"] == ["v1"]
    assert report["failed_uploads"] == [{"video_id": "v2", "error": "patch: 500"}]
    assert report["unfinished_uploads"] == ["v3"]
    assert len(report["timeline"]) == 30
    assert report["api_recovery_s"] == pytest.approx(1.0)  # first second after 20 with requests
    assert "notes" not in report  # the media responses carried X-Cache-Status


def test_no_cache_header_means_no_hit_ratio_and_a_note() -> None:
    rec = Recorder(10)
    rec.samples.append(Sample(0.1, "segment", 0.01, 200))
    report = build(rec, Profile("steady", duration_s=1), {})
    assert report["phases"][0]["edge"]["hit_ratio"] is None
    assert any("X-Cache-Status" in n for n in report["notes"])
    text = render_markdown(report)
    assert "| steady | segment | 1 |" in text
    assert "total" not in text  # one phase: no separate total column


def test_recovery_is_when_p99_stays_near_the_baseline() -> None:
    rows: list[dict[str, Any]] = [
        {"t": 10, "api_p99_ms": 500.0},
        {"t": 11, "api_p99_ms": 12.0},
        {"t": 12, "api_p99_ms": 300.0},  # not yet: it went up again
        {"t": 13, "api_p99_ms": 14.0},
        {"t": 14, "api_p99_ms": None},
        {"t": 15, "api_p99_ms": 11.0},
    ]
    assert recovery_s(rows, 10.0, 10.0) == 3.0
    assert recovery_s(rows, None, 10.0) is None
    assert recovery_s(rows[:1], 10.0, 10.0) is None


def test_the_request_budget_stops_the_run_when_spent() -> None:
    rec = Recorder(max_requests=2)
    assert rec.take() and rec.take()
    assert not rec.stop.is_set()
    assert not rec.take()
    assert rec.stop.is_set() and rec.sent == 2


def test_the_report_tells_5xx_with_retry_after_hung_requests_and_missing_media() -> None:
    rec = Recorder(100)
    rec.samples += [
        Sample(0.1, "api.get", 0.01, 503, retry_after=True),
        Sample(0.2, "api.get", 0.01, 503),  # shed without saying when to come back
        Sample(0.3, "upload.patch", 0.01, 500),
        Sample(0.4, "api.list", 30.0, 0, error="ReadTimeout", hung=True),
        Sample(0.5, "segment", 0.01, 502),
        Sample(0.6, "segment", 0.01, 404),
    ]
    rec.viewers += [
        ViewerSession(0.5, "v1", failed={"segment": 2}, outcome="failed", missing=["http://e/s"]),
        ViewerSession(0.7, "v2", play_s=4.0),
    ]
    report = build(rec, Profile("steady", duration_s=1), {})
    api = report["total"]["api"]
    assert api["server_errors"] == {
        "500": {"retry_after": 0, "bare": 1},
        "503": {"retry_after": 1, "bare": 1},
    }
    assert api["hung"] == {"api.list": 1}
    assert report["total"]["media_server_errors"] == {"502": {"retry_after": 0, "bare": 1}}
    viewers = report["total"]["viewers"]
    assert viewers["failed_sessions"] == 1 and viewers["missing_media"] == 1
    assert report["failed_sessions"] == [{"video_id": "v1", "t": 0.5, "failed": {"segment": 2}}]
    assert report["missing_media"] == [{"video_id": "v1", "url": "http://e/s"}]
    text = render_markdown(report)
    assert "| API 5xx (with Retry-After / bare) | 500: 0 / 1, 503: 1 / 1 |" in text
    assert "| viewers failed / missing media | 1 / 1 |" in text
