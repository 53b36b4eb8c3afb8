"""What the cluster really stored, read past its API: the database rows and the object store.

The chaos checker trusts the server's API no more than a user would, so it reads the truth
directly: the rows the checks need (videos, jobs, webhook events and deliveries, uploads) with
plain SELECTs over the project's table definitions (``reelstream.db.models``, read only: the
column types decode times the same way on SQLite and PostgreSQL), and the object store with
its own client, boto3 for S3 (what ``reelstream.storage.s3`` uses; credentials from the
manifest, else the local cluster's Swift user) or the folder of a local-disk store.

``Retention`` holds the windows during which the janitors keep things on purpose: they are
read the way the cluster's processes read them (``REELSTREAM_*`` in the environment, else the
settings' defaults), since the campaign starts the cluster with its own environment.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import hashlib
import os
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import select

from reelstream.config import Settings
from reelstream.db.database import Database
from reelstream.db.models import Job, Upload, Video, WebhookDelivery, WebhookEvent

T = TypeVar("T")

JANITOR_INTERVAL_S = 300.0  # reelstream.worker.JANITOR_INTERVAL_S: how often uploads are swept
SLACK_S = 30.0  # a janitor's pass, clocks, a slow engine after the faults


def _setting(name: str) -> float:
    raw = os.environ.get(f"REELSTREAM_{name.upper()}")
    if raw:
        return float(raw)
    default = Settings.model_fields[name].default
    return float(default) if default is not None else 0.0


@dataclass(frozen=True)
class Retention:
    """How long each kind of leftover is kept by design (seconds)."""

    upload_expiry_s: float  # an unfinished upload, and rowless staging, until swept
    retired_rev_s: float  # a retired rev: the longest a playback token lives
    lease_s: float
    reaper_interval_s: float
    janitor_interval_s: float = JANITOR_INTERVAL_S
    slack_s: float = SLACK_S

    @classmethod
    def from_environment(cls) -> Retention:
        return cls(
            upload_expiry_s=_setting("upload_expiry_s"),
            retired_rev_s=max(_setting("playback_ttl_s"), _setting("public_playback_ttl_s")),
            lease_s=_setting("lease_s"),
            reaper_interval_s=_setting("reaper_interval_s"),
        )

    @property
    def lease_grace_s(self) -> float:
        """An expired lease is stale once the reaper had a pass (and some slack) to take it."""
        return self.reaper_interval_s + self.slack_s

    @property
    def upload_sweep_s(self) -> float:
        """Past its expiry, an upload (or rowless staging) waits at most a janitor pass."""
        return self.janitor_interval_s + self.slack_s


# -- the database


@dataclass(frozen=True)
class VideoRow:
    id: str
    status: str
    published_rev: str | None
    error: str | None
    source_bytes: int | None


@dataclass(frozen=True)
class JobRow:
    id: int
    video_id: str
    kind: str
    state: str
    attempts: int
    lease_rev: str | None
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    payload: dict[str, Any] | None


@dataclass(frozen=True)
class UploadRow:
    id: str
    video_id: str
    offset: int
    length: int
    completed_at: dt.datetime | None
    expires_at: dt.datetime
    multipart_id: str | None


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    event_id: str
    state: str
    lease_expires_at: dt.datetime | None


@dataclass
class DbState:
    now: dt.datetime
    videos: dict[str, VideoRow] = field(default_factory=dict)
    jobs: list[JobRow] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (id, type, video_id)
    deliveries: list[DeliveryRow] = field(default_factory=list)
    uploads: dict[str, UploadRow] = field(default_factory=dict)

    def jobs_of(self, video_id: str) -> list[JobRow]:
        return [j for j in self.jobs if j.video_id == video_id]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, also when the caller is inside an
    event loop (then in a thread with its own loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _read_db(url: str) -> DbState:
    db = Database(url, timeout_s=10)
    try:
        async with db.read(primary=True) as s:
            state = DbState(now=dt.datetime.now(dt.UTC))
            for v in (
                await s.execute(
                    select(
                        Video.id, Video.status, Video.published_rev, Video.error, Video.source_bytes
                    )
                )
            ).all():
                state.videos[v.id] = VideoRow(*v)
            cols = (Job.id, Job.video_id, Job.kind, Job.state, Job.attempts, Job.lease_rev)
            more = (Job.lease_owner, Job.lease_expires_at, Job.payload)
            state.jobs = [JobRow(*j) for j in (await s.execute(select(*cols, *more))).all()]
            ev = select(WebhookEvent.id, WebhookEvent.type, WebhookEvent.video_id)
            state.events = [(e.id, e.type, e.video_id) for e in (await s.execute(ev)).all()]
            dl = select(
                WebhookDelivery.id,
                WebhookDelivery.event_id,
                WebhookDelivery.state,
                WebhookDelivery.lease_expires_at,
            )
            state.deliveries = [DeliveryRow(*d) for d in (await s.execute(dl)).all()]
            up = select(
                Upload.id,
                Upload.video_id,
                Upload.offset,
                Upload.length,
                Upload.completed_at,
                Upload.expires_at,
                Upload.multipart_id,
            )
            for u in (await s.execute(up)).all():
                state.uploads[u.id] = UploadRow(*u)
            return state
    finally:
        await db.dispose()


def read_db(url: str) -> DbState:
    """Every row the checks need, read from the primary in one read-only unit."""
    return run_sync(_read_db(url))


# -- the object store


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    mtime: float  # Unix seconds


@dataclass(frozen=True)
class Multipart:
    key: str
    upload_id: str
    initiated: float  # Unix seconds


class ObjectReader(Protocol):
    def objects(self, prefix: str) -> list[StoredObject]: ...
    def digest(self, key: str) -> tuple[int, str] | None:
        """(size, sha256 hex) of an object; None when it does not exist."""
        ...

    def download(self, key: str, dest: Path) -> bool: ...
    def multiparts(self) -> list[Multipart]: ...


def _hash_chunks(chunks: Iterator[bytes]) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    for chunk in chunks:
        h.update(chunk)
        size += len(chunk)
    return size, h.hexdigest()


class S3Reader:
    def __init__(self, manifest: dict[str, Any]) -> None:
        import boto3  # type: ignore[import-untyped]
        import botocore.config  # type: ignore[import-untyped]

        from reelstream.devcluster.swift import ACCESS_KEY, REGION, SECRET_KEY

        self.bucket = str(manifest["s3_bucket"])
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=manifest["s3_endpoint_url"],
            aws_access_key_id=manifest.get("s3_access_key", ACCESS_KEY),
            aws_secret_access_key=manifest.get("s3_secret_key", SECRET_KEY),
            region_name=manifest.get("s3_region", REGION),
            config=botocore.config.Config(
                s3={"addressing_style": manifest.get("s3_addressing_style", "path")},
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
            ),
        )

    def objects(self, prefix: str) -> list[StoredObject]:
        out = []
        pages = self.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                out.append(StoredObject(o["Key"], int(o["Size"]), o["LastModified"].timestamp()))
        return out

    def digest(self, key: str) -> tuple[int, str] | None:
        import botocore.exceptions  # type: ignore[import-untyped]

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return _hash_chunks(body.iter_chunks(1 << 20))

    def download(self, key: str, dest: Path) -> bool:
        if self.digest(key) is None:
            return False
        self.client.download_file(self.bucket, key, str(dest))
        return True

    def multiparts(self) -> list[Multipart]:
        out = []
        pages = self.client.get_paginator("list_multipart_uploads")
        for page in pages.paginate(Bucket=self.bucket):
            for m in page.get("Uploads", []):
                out.append(Multipart(m["Key"], m["UploadId"], m["Initiated"].timestamp()))
        return out


class DirReader:
    """A local-disk blob store: keys are paths below ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def objects(self, prefix: str) -> list[StoredObject]:
        base = self.root / prefix
        if not base.exists():
            return []
        out = []
        for path in [base] if base.is_file() else sorted(base.rglob("*")):
            if path.is_file():
                st = path.stat()
                key = path.relative_to(self.root).as_posix()
                out.append(StoredObject(key, st.st_size, st.st_mtime))
        return out

    def digest(self, key: str) -> tuple[int, str] | None:
        path = self.root / key
        if not path.is_file():
            return None
        with path.open("rb") as f:
            return _hash_chunks(iter(lambda: f.read(1 << 20), b""))

    def download(self, key: str, dest: Path) -> bool:
        path = self.root / key
        if not path.is_file():
            return False
        dest.write_bytes(path.read_bytes())
        return True

    def multiparts(self) -> list[Multipart]:
        return []  # a disk store has none


def open_store(manifest: dict[str, Any]) -> ObjectReader:
    """The S3 bucket the manifest names, else its local ``storage_root``."""
    if manifest.get("s3_endpoint_url"):
        return S3Reader(manifest)
    root = manifest.get("storage_root") or Path(manifest["data_dir"]) / "storage"
    return DirReader(Path(root))


def staging_files(manifest: dict[str, Any]) -> list[tuple[Path, float]]:
    """Files in the local tus staging folders (``upload_dir``: ``<data_dir>/uploads`` of a
    single server, ``<data_dir>/roles/<name>/uploads`` of the cluster's roles), with mtimes.
    Their names are upload ids (``{id}``, ``{id}.chunk``); S3 staging's part buffers are
    anonymous temp files and never appear here."""
    data = Path(manifest["data_dir"])
    folders = [Path(manifest["upload_dir"])] if manifest.get("upload_dir") else []
    folders += [data / "uploads", *sorted(data.glob("roles/*/uploads"))]
    out = []
    for folder in folders:
        if folder.is_dir():
            out += [(p, p.stat().st_mtime) for p in folder.iterdir() if p.is_file()]
    return out
