"""The checker's rules without a server: the report checks (viewers, API) and the janitors'
line between a leftover and what is kept by design, on fabricated reports and rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from benchmarks.chaos.checks_client import check_api, check_viewers
from benchmarks.chaos.janitors import check_janitors
from benchmarks.chaos.stored import (
    DbState,
    DeliveryRow,
    JobRow,
    Multipart,
    Retention,
    StoredObject,
    UploadRow,
    VideoRow,
)
from benchmarks.load.profile import Profile
from benchmarks.load.recorder import Recorder, Sample, ViewerSession
from benchmarks.load.report import build

NOW = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
FIVE_MINUTES = dt.timedelta(minutes=5)
RETENTION = Retention(upload_expiry_s=3600, retired_rev_s=600, lease_s=6, reaper_interval_s=1)


def _report(*samples: Sample, viewers: tuple[ViewerSession, ...] = ()) -> dict[str, object]:
    rec = Recorder(100)
    rec.samples += [Sample(0.1, "api.get", 0.01, 200), *samples]
    rec.viewers += [ViewerSession(0.1, "good", startup_s=0.1, play_s=10.0), *viewers]
    return build(rec, Profile("steady", duration_s=1), {})


def test_the_report_checks_pass_on_a_good_report() -> None:
    report = _report(Sample(0.2, "api.get", 0.01, 503, retry_after=True))
    assert check_viewers(report, 0.005).ok
    api = check_api(report)
    assert api.ok and api.counts["shed_503_with_retry_after"] == 1


def test_a_failed_session_a_missing_segment_or_rebuffering_fails_viewers() -> None:
    failed = ViewerSession(0.3, "vid1", failed={"segment": 2}, outcome="failed")
    failed.missing.append("http://edge/media/vid1/r1/t/v360/seg_00002.m4s")
    check = check_viewers(_report(viewers=(failed,)), 0.005)
    assert not check.ok
    assert "viewer of vid1 at t=0.3 s failed ({'segment': 2})" in check.detail
    assert "a playlist of vid1 named a missing object: http://edge/media/vid1" in check.detail

    stalled = ViewerSession(0.2, "vid2", startup_s=0.1, stall_s=1.0, play_s=9.0)
    check = check_viewers(_report(viewers=(stalled,)), 0.005)
    assert not check.ok and "rebuffer ratio 5.0000% in steady" in check.detail


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (Sample(0.2, "api.get", 0.01, 500), "1 answers 500"),
        (Sample(0.2, "upload.patch", 0.01, 502), "1 answers 502"),
        (Sample(0.2, "api.list", 0.01, 503), "1 answers 503 without Retry-After"),
        (
            Sample(0.2, "api.get", 30.0, 0, error="ReadTimeout", hung=True),
            "1 api.get requests hung",
        ),
    ],
)
def test_a_bare_5xx_or_a_hung_request_fails_api(sample: Sample, expected: str) -> None:
    check = check_api(_report(sample))
    assert not check.ok and expected in check.detail


def test_a_report_without_the_fields_fails_rather_than_passes() -> None:
    assert not check_api({"total": {"api": {"requests": 3}}}).ok
    assert not check_viewers({"total": {}}, 0.005).ok


class MemoryReader:
    def __init__(self, objects: list[StoredObject], multiparts: list[Multipart]) -> None:
        self._objects = objects
        self._multiparts = multiparts

    def objects(self, prefix: str) -> list[StoredObject]:
        return [o for o in self._objects if o.key.startswith(prefix)]

    def digest(self, key: str) -> tuple[int, str] | None:
        return None

    def download(self, key: str, dest: Path) -> bool:
        return False

    def multiparts(self) -> list[Multipart]:
        return self._multiparts


def _job(id: int, kind: str, state: str, **kw: object) -> JobRow:
    fields: dict[str, object] = {
        "attempts": 1,
        "lease_rev": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "payload": None,
    }
    fields.update(kw)
    return JobRow(id, "v1", kind, state, **fields)  # type: ignore[arg-type]


def _upload(
    id: str, *, done: bool = False, expires_in_s: float = 600, mp: str | None = None
) -> UploadRow:
    return UploadRow(
        id,
        "v2",
        10,
        100,
        NOW if done else None,
        NOW + dt.timedelta(seconds=expires_in_s),
        mp,
    )


def _obj(key: str, age_s: float = 10) -> StoredObject:
    return StoredObject(key, 1, NOW.timestamp() - age_s)


def _state() -> DbState:
    db = DbState(now=NOW)
    db.videos["v1"] = VideoRow("v1", "ready", "pub", None, 100)
    db.videos["v2"] = VideoRow("v2", "uploading", None, None, None)
    db.jobs = [
        _job(1, "transcode", "succeeded", lease_rev="pub"),
        _job(2, "cleanup", "queued", payload={"rev": "retired"}),
        _job(3, "rendition", "running", lease_rev="busy", lease_expires_at=NOW),
    ]
    db.uploads = {"live": _upload("live", mp="mp-live"), "done": _upload("done", done=True)}
    return db


def _objects() -> list[StoredObject]:
    return [
        _obj("videos/v1/source"),
        _obj("videos/v1/r/pub/master.m3u8"),
        _obj("videos/v1/r/retired/master.m3u8"),  # kept: its cleanup job is due later
        _obj("videos/v1/r/busy/v360/seg_1.m4s"),  # kept: a running attempt writes it
        _obj("uploads/live/tail-10"),  # kept: a live upload's tail
        _obj("uploads/young/tail-5", age_s=60),  # kept: rowless, swept after upload_expiry_s
    ]


def test_what_is_kept_by_design_passes() -> None:
    multiparts = [Multipart("videos/v2/source", "mp-live", NOW.timestamp() - 5)]
    check = check_janitors(_state(), MemoryReader(_objects(), multiparts), [], RETENTION)
    assert check.ok, check.detail
    assert check.counts["kept_by_design"] == {
        "live_upload_staging": 2,
        "retired_revs": 1,
        "running_attempt_revs": 1,
        "rowless_staging_young": 1,
    }


def test_orphans_staging_multiparts_and_stale_leases_fail(tmp_path: Path) -> None:
    db = _state()
    db.jobs.append(
        _job(
            4,
            "transcode",
            "running",
            lease_owner="w:1",
            lease_expires_at=NOW - dt.timedelta(minutes=5),
        )
    )
    db.deliveries.append(DeliveryRow(9, "evt_x", "sending", NOW - FIVE_MINUTES))
    db.uploads["gone"] = _upload("gone", expires_in_s=-3600)  # expired an hour ago
    objects = [
        *_objects(),
        _obj("videos/v1/r/lost/master.m3u8"),  # no job refers to it
        _obj("videos/v9/source"),  # its video has no row
        _obj("uploads/done/tail-100"),  # its upload completed
        _obj("uploads/old/tail-5", age_s=3 * 3600),  # rowless and past the sweep
    ]
    multiparts = [Multipart("videos/v8/source", "mp-old", NOW.timestamp() - 3 * 3600)]
    stray = tmp_path / "stray"
    check = check_janitors(db, MemoryReader(objects, multiparts), [(stray, 0.0)], RETENTION)
    assert not check.ok
    problems = "\n".join(check.problems)
    assert "orphan rev videos/v1/r/lost/ (1 objects; published: pub)" in problems
    assert "object videos/v9/source: its video v9 has no row" in problems
    assert "staged object uploads/done/tail-100: left by completed upload done" in problems
    assert "staged object uploads/old/tail-5: no upload row" in problems
    assert "open multipart upload mp-old of videos/v8/source: no upload row" in problems
    assert f"staging file {stray}: no upload row" in problems
    assert "upload gone (video v2): expired at 11:00:00, not purged" in problems
    assert "job 4 (transcode, video v1): running under a lease of w:1" in problems
    assert "webhook delivery 9 (event evt_x): sending under a lease" in problems
    assert "job 3" not in problems  # expired just now: the reaper still has time
    assert check.counts["stale_leases"] == 2


@pytest.mark.timeout(180)
def test_the_s3_reader_sees_objects_and_open_multipart_uploads(
    s3_settings: dict[str, str], tmp_path: Path
) -> None:
    from benchmarks.chaos.stored import S3Reader, open_store

    manifest = {**s3_settings, "data_dir": str(tmp_path)}
    reader = open_store(manifest)
    assert isinstance(reader, S3Reader)
    client = reader.client
    client.create_bucket(Bucket=s3_settings["s3_bucket"])
    client.put_object(Bucket=s3_settings["s3_bucket"], Key="videos/v9/source", Body=b"abc")
    mp = client.create_multipart_upload(Bucket=s3_settings["s3_bucket"], Key="videos/v8/source")
    try:
        assert reader.digest("videos/v9/source") == (
            3,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        )
        assert reader.digest("videos/v9/missing") is None
        assert [o.key for o in reader.objects("videos/")] == ["videos/v9/source"]
        (open_mp,) = reader.multiparts()
        assert (open_mp.key, open_mp.upload_id) == ("videos/v8/source", mp["UploadId"])
        none_kept = Retention(0, 0, 1, 1, janitor_interval_s=0, slack_s=0)
        db = DbState(now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5))
        check = check_janitors(db, reader, [], none_kept)
        assert "object videos/v9/source: its video v9 has no row" in check.detail
        assert f"open multipart upload {mp['UploadId'][:24]} of videos/v8/source" in check.detail
    finally:
        client.abort_multipart_upload(
            Bucket=s3_settings["s3_bucket"], Key="videos/v8/source", UploadId=mp["UploadId"]
        )
