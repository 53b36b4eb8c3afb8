"""The chaos checker passes on a good state and fails, naming the culprit, on each bad one.

Against a real ``reelstream serve`` (SQLite, local storage: the cheapest real setup; the S3
reader has its own test) with one uploaded clip published and its ``video.ready`` delivered to
a ``WebhookSink``, states are fabricated one at a time and put back afterwards: a corrupted
stored source, a second publish (a second completed job, a second event id, another rev), a
truncated playlist, a playlist naming a missing segment, leftover staging. The report checks
and the janitors' rules also run on fabricated reports and rows, without a server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from benchmarks.chaos.checker import CheckInputs, run_checks
from benchmarks.chaos.stored import Retention
from benchmarks.chaos.webhooks import WebhookSink
from benchmarks.load.profile import Profile
from benchmarks.load.recorder import Recorder, Sample, UploadResult, ViewerSession
from benchmarks.load.report import build

from benchmarks.load import tus
from tests.support import Server, make_clip, run_server, wait_for_status

RETENTION = Retention(
    upload_expiry_s=24 * 3600, retired_rev_s=6 * 3600, lease_s=6, reaper_interval_s=1
)


def good_report(sources: list[UploadResult], **extra: Any) -> dict[str, Any]:
    """A report as the harness builds it: one viewer that played to the end, API requests
    answered, the uploads acknowledged."""
    rec = Recorder(100)
    rec.samples += [Sample(0.1, "api.get", 0.01, 200), Sample(0.2, "segment", 0.01, 200)]
    rec.samples += [Sample(0.3, "api.list", 0.01, 503, retry_after=True)]  # shed politely
    rec.viewers.append(ViewerSession(0.1, "v", startup_s=0.2, play_s=2.0, outcome="ended"))
    rec.uploads += sources
    rec.samples += extra.get("samples", [])
    rec.viewers += extra.get("viewers", [])
    return build(rec, Profile("steady", duration_s=1), {})


@dataclass
class Setup:
    server: Server
    sink: WebhookSink
    video_id: str
    upload: UploadResult
    manifest: dict[str, Any]

    @property
    def storage(self) -> Path:
        return self.server.data_dir / "storage"

    @property
    def db_path(self) -> Path:
        return self.server.data_dir / "reelstream.db"

    def rev_dir(self) -> Path:
        (rev,) = (self.storage / "videos" / self.video_id / "r").iterdir()
        return rev

    def inputs(self, report: dict[str, Any] | None = None, **kw: Any) -> CheckInputs:
        options: dict[str, Any] = {
            "ready_timeout_s": 5,
            "janitor_timeout_s": 0,
            "delivery_timeout_s": 0,
            "retention": RETENTION,
        }
        options.update(kw)
        return CheckInputs(
            self.manifest,
            report if report is not None else good_report([self.upload]),
            self.sink.log_path,
            **options,
        )

    def sql(self, statement: str, *args: Any) -> None:
        with sqlite3.connect(self.db_path, timeout=30) as con:
            con.execute(statement, args)


def upload(server: Server, data: bytes) -> str:
    """One tus upload of ``data``, acknowledged (the final offset answered)."""
    headers = {**server.headers, **tus.TUS}
    meta = {"filename": "clip.mp4", "title": "chaos", "visibility": "public"}
    r = httpx.post(
        f"{server.base_url}/api/v1/uploads",
        headers={
            **headers,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": tus.encode_metadata(meta),
        },
    )
    assert r.status_code == 201, r.text
    url = str(httpx.URL(server.base_url).join(r.headers["location"]))
    p = httpx.patch(
        url,
        content=data,
        headers={**headers, "Upload-Offset": "0", "Content-Type": tus.OFFSET_TYPE},
        timeout=60,
    )
    assert p.status_code == 204 and int(p.headers["upload-offset"]) == len(data), p.text
    return str(r.headers["video-id"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("chaos-checker")
    data = make_clip(root / "clip.mp4", seconds=5, width=320, height=180).read_bytes()
    with WebhookSink(root / "webhooks.jsonl") as sink, run_server(root / "data") as server:
        sink.register(server.base_url, server.token)
        video_id = upload(server, data)
        wait_for_status(server.base_url, video_id, {"ready"}, timeout=120)
        sent = UploadResult(
            0.0, video_id, len(data), acknowledged=True, sha256=hashlib.sha256(data).hexdigest()
        )
        manifest = {
            "edge_url": server.base_url,
            "api_urls": [server.base_url],
            "database_url": f"sqlite+aiosqlite:///{server.data_dir / 'reelstream.db'}",
            "admin_token": server.token,
            "data_dir": str(server.data_dir),
            "processes": [],
        }
        yield Setup(server, sink, video_id, sent, manifest)


def failures(inputs: CheckInputs) -> dict[str, str]:
    report = run_checks(inputs)
    json.dumps(report.to_dict())  # JSON-ready
    return {c.name: c.detail for c in report.checks if not c.ok}


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_the_sink_receives_signed_deliveries_from_reelstream(setup: Setup) -> None:
    for _ in range(100):  # bounded: the dispatcher delivers within a few polls
        ready = [d for d in setup.sink.deliveries() if d["body"]["type"] == "video.ready"]
        if ready:
            break
        time.sleep(0.2)
    assert ready, setup.sink.deliveries()
    (hook,) = ready
    assert hook["headers"]["webhook-id"] == hook["body"]["id"]
    assert hook["body"]["data"]["video"]["id"] == setup.video_id
    assert hook["signature_ok"] is True
    assert {"webhook-timestamp", "webhook-signature"} <= set(hook["headers"])


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_a_good_state_passes_every_check(setup: Setup) -> None:
    inputs = setup.inputs(delivery_timeout_s=30)
    log = setup.sink.log_path.read_text()
    # the same event delivered again (at least once) is no second publish
    ready = next(line for line in log.splitlines() if '"video.ready"' in line)
    setup.sink.log_path.write_text(log + ready + "\n")
    try:
        report = run_checks(inputs)
    finally:
        setup.sink.log_path.write_text(log)
    assert report.ok, report.to_markdown()
    assert [c.name for c in report.checks] == [
        "viewers",
        "api",
        "sources",
        "ready",
        "published_once",
        "playback",
        "janitors",
    ]
    assert report.check("sources").counts["identical"] == 1
    assert report.check("published_once").counts["redelivered"] == 1
    assert report.check("playback").counts["playlists"] >= 2  # a video rung and the audio
    assert report.check("api").counts["shed_503_with_retry_after"] == 1
    assert "every check passed" in report.to_markdown()


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_a_corrupted_stored_source_fails(setup: Setup) -> None:
    source = setup.storage / "videos" / setup.video_id / "source"
    original = source.read_bytes()
    source.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    try:
        failed = failures(setup.inputs())
    finally:
        source.write_bytes(original)
    assert "sources" in failed
    assert f"video {setup.video_id}: stored source is" in failed["sources"]


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_a_second_publish_fails(setup: Setup) -> None:
    vid, dup = setup.video_id, "zzzzzzzzzzzz"
    rev = setup.rev_dir()
    shutil.copytree(rev, rev.with_name(dup))
    setup.sql(
        "INSERT INTO jobs (video_id, kind, state, attempts, max_attempts, run_at, lease_rev,"
        " progress, created_at, updated_at) SELECT video_id, kind, state, attempts,"
        " max_attempts, run_at, ?, progress, created_at, updated_at FROM jobs"
        " WHERE video_id = ? AND kind = 'transcode'",
        dup,
        vid,
    )
    setup.sql(
        "INSERT INTO webhook_events (id, type, owner_id, video_id, body, created_at)"
        " SELECT 'evt_second', type, owner_id, video_id, body, created_at FROM webhook_events"
        " WHERE video_id = ? AND type = 'video.ready'",
        vid,
    )
    log = setup.sink.log_path.read_text()
    ready = json.loads(next(line for line in log.splitlines() if '"video.ready"' in line))
    ready["headers"]["webhook-id"] = ready["body"]["id"] = "evt_second"
    setup.sink.log_path.write_text(log + json.dumps(ready) + "\n")
    try:
        failed = failures(setup.inputs())
    finally:
        setup.sink.log_path.write_text(log)
        setup.sql("DELETE FROM webhook_events WHERE id = 'evt_second'")
        setup.sql("DELETE FROM jobs WHERE lease_rev = ?", dup)
        shutil.rmtree(rev.with_name(dup))
    once = failed["published_once"]
    assert f"video {vid}: 2 transcode jobs completed" in once
    assert f"video {vid}: 2 video.ready events" in once
    assert f"video {vid}: 2 distinct video.ready event ids delivered" in once
    assert f"orphan rev videos/{vid}/r/{dup}/" in failed["janitors"]
    assert set(failed) == {"published_once", "janitors"}


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_a_truncated_playlist_or_a_missing_segment_fails_playback(setup: Setup) -> None:
    rev = setup.rev_dir()
    playlists = sorted(p for p in rev.rglob("*.m3u8") if p.name != "master.m3u8")
    playlist = max(playlists, key=lambda p: p.read_text().count("#EXTINF"))  # 4 s + 1 s
    text = playlist.read_text()
    lines = text.splitlines()
    last = max(i for i, line in enumerate(lines) if line.startswith("#EXTINF"))
    playlist.write_text("\n".join(lines[:last] + lines[last + 2 :]) + "\n")  # one less
    try:
        failed = failures(setup.inputs())
    finally:
        playlist.write_text(text)
    assert set(failed) == {"playback"}
    assert f"video {setup.video_id}: " in failed["playback"]
    assert "lasts" in failed["playback"] and "the source" in failed["playback"]

    playlist.write_text("\n".join(lines[:last]) + "\n")  # cut short: no EXT-X-ENDLIST
    try:
        failed = failures(setup.inputs())
    finally:
        playlist.write_text(text)
    assert "no #EXT-X-ENDLIST" in failed["playback"]

    segment = next(playlist.parent.glob("*.m4s"), None) or next(playlist.parent.glob("*.ts"))
    moved = segment.with_name("moved-away")
    segment.rename(moved)
    try:
        failed = failures(setup.inputs())
    finally:
        moved.rename(segment)
    assert f"names {segment.name}: HTTP 404" in failed["playback"]


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_leftover_staging_fails_unless_young(setup: Setup) -> None:
    uploads = setup.server.data_dir / "uploads"
    uploads.mkdir(exist_ok=True)
    stray = uploads / "aaaaaaaaaaaa"  # no upload row
    stray.write_bytes(b"x")
    try:
        young = run_checks(setup.inputs()).check("janitors")
        two_days_ago = dt.datetime.now(dt.UTC).timestamp() - 2 * 24 * 3600
        os.utime(stray, (two_days_ago, two_days_ago))
        old = failures(setup.inputs())
    finally:
        stray.unlink()
    assert young.ok and young.counts["kept_by_design"] == {"rowless_staging_young": 1}
    assert f"staging file {stray}: no upload row" in old["janitors"]


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_a_video_that_never_becomes_ready_fails(setup: Setup) -> None:
    missing = replace(setup.upload, video_id="nonexistent1")
    failed = failures(setup.inputs(good_report([setup.upload, missing]), ready_timeout_s=1))
    assert "video nonexistent1: acknowledged but not in the database" in failed["sources"]
    assert "video nonexistent1: not ready after" in failed["ready"]
