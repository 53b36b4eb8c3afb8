"""Composing a video's timeline from its rows (``reelstream.processing.timeline``), without a
database: the rows are built as a worker and the queue would leave them."""

from __future__ import annotations

import datetime as dt
import itertools

from reelstream.db.models import Job, Upload, Video
from reelstream.processing.timeline import (
    Timeline,
    compose,
    eta_seconds,
    failed_renditions,
    overall_progress,
)

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


def video(status: str) -> Video:
    return Video(id="v" * 16, title="t", filename="t.mp4", status=status, created_at=NOW)


def attempt(*failed: str) -> list[dict[str, object]]:
    """The stages of a finished transcode of v240 + v360 + audio; ``failed`` renditions failed."""
    t = Timeline()
    t.done("probe", detail="640x360")
    for name in ("v240", "v360", "audio"):
        if name in failed:
            t.fail("encode", name, f"encoding {name} failed: boom")
        else:
            t.done("encode", name)
    t.done("package")
    t.done("publish")
    return t.to_json()


def job(id: int, kind: str, state: str, stages: object = None, **kw: object) -> Job:
    return Job(
        id=id,
        video_id="v" * 16,
        kind=kind,
        state=state,
        attempts=kw.pop("attempts", 1),
        max_attempts=3,
        progress=kw.pop("progress", 0.0),
        stages=stages,
        run_at=NOW,
        **kw,
    )


def test_uploading_shows_the_bytes_so_far() -> None:
    upload = Upload(id="u", video_id="v" * 16, length=1000, offset=250, created_at=NOW)
    composed = compose(video("uploading"), [], upload, now=NOW)
    (stage,) = composed.stages
    assert (stage.name, stage.state, stage.progress) == ("upload", "running", 0.25)
    assert stage.detail == "250 B of 1000 B received"
    assert composed.job is None and not composed.can_retry_video


def test_a_running_attempt_has_progress_and_an_eta() -> None:
    t = Timeline()
    t.done("probe")
    for name, value in (("v240", 0.5625), ("audio", 0.5)):
        t.start("encode", name)
        t.progress("encode", name, value)
    t.plan("package")
    t.plan("publish")
    running = job(1, "transcode", "running", t.to_json(), progress=0.45)
    running.started_at = NOW - dt.timedelta(seconds=9)
    composed = compose(video("processing"), [running], None, now=NOW)
    # the stages' weighted mean (probe 1 + encodes 16 x 0.53125, of 1 + 16 + 1 + 1), not the
    # job's own figure
    assert composed.progress == 0.5
    assert composed.eta_s == 9.0  # 9 s for half: 9 s for the other half
    assert [s.state for s in composed.stages][:4] == ["done", "done", "running", "running"]
    assert eta_seconds(running, NOW - dt.timedelta(seconds=4.5)) == 5.5  # half the time so far
    early = job(2, "transcode", "running", progress=0.01)
    early.started_at = NOW
    assert eta_seconds(early, NOW) is None  # too early to extrapolate


def test_a_dead_attempt_shows_its_running_stages_failed() -> None:
    t = Timeline()
    t.done("probe")
    t.start("encode", "v240")
    t.plan("package")
    dead = job(1, "transcode", "failed", t.to_json(), last_error="the worker died 3 times")
    composed = compose(video("failed"), [dead], None, now=NOW)
    states = {(s.name, s.rendition): (s.state, s.error) for s in composed.stages}
    assert states[("encode", "v240")] == ("failed", "the worker died 3 times")
    assert states[("package", None)] == ("skipped", None)
    assert composed.can_retry_video and composed.retry_renditions == []


def test_rendition_jobs_are_laid_over_the_transcode() -> None:
    base = job(1, "transcode", "succeeded", attempt("v360"))
    assert failed_renditions([base]) == ["v360"]
    queued = job(2, "rendition", "queued", attempts=0, payload={"renditions": ["v360"]})
    composed = compose(video("ready"), [base, queued], None, now=NOW)
    v360 = next(s for s in composed.stages if s.rendition == "v360")
    assert v360.state == "pending" and v360.detail == "retry queued (attempt 1 of 3)"
    assert composed.retry_renditions == []  # one retry at a time
    gave_up = job(2, "rendition", "failed", payload={"renditions": ["v360"]}, last_error="no")
    assert failed_renditions([base, gave_up]) == ["v360"]
    t = Timeline()
    t.done("encode", "v360")
    fixed = job(3, "rendition", "succeeded", t.to_json(), payload={"renditions": ["v360"]})
    assert failed_renditions([base, gave_up, fixed]) == []
    # a later full transcode starts the story over
    again = job(4, "transcode", "queued", attempts=0)
    composed = compose(video("queued"), [base, fixed, again], None, now=NOW)
    assert [s.state for s in composed.stages[1:]] == ["pending"] * 4


def test_housekeeping_jobs_do_not_count() -> None:
    base = job(1, "transcode", "succeeded", attempt("v360"))
    cleanup = job(2, "cleanup", "queued", attempts=0, payload={"rev": "x"})
    composed = compose(video("ready"), [base, cleanup], None, now=NOW)
    assert composed.retry_renditions == ["v360"] and composed.progress == 1.0
    assert composed.job is not None and composed.job.id == 1


def test_overall_progress_grows_with_the_stages_and_the_eta_only_shrinks() -> None:
    """A steady transcode polled every 2 s: probe, two renditions encoded one after the other,
    package, publish. The overall figure is the weighted mean of the stages shown, never jumps
    ahead of them, never goes back; at a steady pace the ETA never grows."""
    polls: list[tuple[float, float | None]] = []
    t = Timeline()
    for name in ("probe", "package", "publish"):
        t.plan(name)
    for name in ("v240", "v360"):
        t.plan("encode", name)
    started = NOW
    steps: list[tuple[str, str | None, float]] = [("probe", None, 1.0)]
    steps += [("encode", "v240", k / 10) for k in range(1, 11)]
    steps += [("encode", "v360", k / 10) for k in range(1, 11)]
    steps += [("package", None, 1.0), ("publish", None, 1.0)]
    for i, (name, rendition, value) in enumerate(steps):
        if value >= 1.0:
            t.done(name, rendition)  # type: ignore[arg-type]
        else:
            t.start(name, rendition)  # type: ignore[arg-type]
            t.progress(name, rendition, value)  # type: ignore[arg-type]
        running = job(1, "transcode", "running", t.to_json())
        running.started_at = started
        composed = compose(
            video("processing"), [running], None, now=NOW + dt.timedelta(seconds=2 * (i + 1))
        )
        shown = composed.stages[1:]  # the upload stage is not processing
        assert composed.progress == overall_progress(shown)
        polls.append((composed.progress, composed.eta_s))
    progress = [p for p, _ in polls]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert progress[0] < 0.1  # the probe alone: not a jump to half way
    assert max(b - a for a, b in itertools.pairwise(progress)) < 0.1
    # the encodes advance at one pace: their ETA never grows
    encode_etas = [eta for _, eta in polls[1:21] if eta is not None]
    assert len(encode_etas) >= 15
    assert all(b <= a for a, b in itertools.pairwise(encode_etas))


def test_a_failure_that_retrying_cannot_fix_is_not_offered_a_retry() -> None:
    t = Timeline()
    t.fail("probe", None, "the file is not a video")
    broken = job(1, "transcode", "failed", t.to_json(), last_error="the file is not a video")
    failed = video("failed")
    failed.error = "the file is not a video"  # kept as it is: not retryable (final_reason)
    composed = compose(failed, [broken], None, now=NOW)
    assert not composed.retryable and not composed.can_retry_video
    # a transient failure that used up its attempts: retrying may help
    flaky = job(1, "transcode", "failed", t.to_json(), attempts=3, last_error="storage error")
    failed.error = "transcoding failed after 3 attempts: storage error"
    composed = compose(failed, [flaky], None, now=NOW)
    assert composed.retryable and composed.can_retry_video
    # a dead worker is not the file's fault either
    failed.error = "processing stopped: the worker died 3 times"
    assert compose(failed, [flaky], None, now=NOW).retryable
