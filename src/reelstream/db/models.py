"""Tables: users, web_sessions, access_tokens, videos, renditions, captions, uploads, jobs,
workers, webhook_endpoints, webhook_events, webhook_deliveries, watch_positions, qoe_sessions.

State machine of a video (``status``)::

    uploading ──(upload complete: job created in the same transaction)──▶ queued
    queued ──(a worker claims the job)──▶ processing ──(publish)──▶ ready
    processing ──(retryable error, attempts left)──▶ queued
    processing / queued ──(permanent error, or attempts exhausted)──▶ failed
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from reelstream.db.base import Base, UTCDateTime, utcnow

VIDEO_STATUSES = ("uploading", "queued", "processing", "ready", "failed")
VISIBILITIES = ("public", "unlisted", "private")
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
SCOPES = ("read", "write", "admin")


class User(Base):
    """An account. ``username_key`` is the lower-cased username: the unique,
    case-insensitive login name. ``password_hash`` is an argon2id hash (None: no password,
    token-only account)."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # An admin's override of ``settings.default_quota_bytes`` (None: the default; 0: unlimited)
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebSession(Base):
    """A signed-in browser. Only the sha256 of the cookie value is stored; ``csrf_token``
    must accompany every unsafe request the cookie authenticates."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AccessToken(Base):
    """A personal access token (``Authorization: Bearer rs_...``). Only the sha256 of the
    token is stored; ``scopes`` is a space-separated subset of ``SCOPES``."""

    __tablename__ = "access_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class Video(Base):
    __tablename__ = "videos"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    # Added in two phases (migrations 0008 expand, 0009 contract): until the contract ran, rows
    # written by the previous release hold NULL, which every reader takes as "".
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    filename: Mapped[str] = mapped_column(String(300))
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    # The uploader; NULL only for videos from before accounts (admins manage those)
    owner_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="uploading")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    source_key: Mapped[str | None] = mapped_column(String(200), default=None)
    source_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    duration_s: Mapped[float | None] = mapped_column(Float, default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    has_audio: Mapped[bool | None] = mapped_column(Boolean, default=None)
    published_rev: Mapped[str | None] = mapped_column(String(16), default=None)
    output_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    probe: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    ready_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # What the published rev offers besides HLS (see reelstream.videos.publishing):
    # {"dash": "manifest.mpd", "storyboard": "storyboard/storyboard.vtt",
    #  "poster": "poster.jpg", "captions": [{"lang", "label", "vtt"}],
    #  "growing": ["v240"]}  (renditions playable while they grow: a rev still being produced)
    media: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The packaged rev's facts the manifests are written from (reelstream.media.layout)
    layout: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None, deferred=True)
    poster_at_s: Mapped[float | None] = mapped_column(Float, default=None)
    # Views counted so far: added in batches by reelstream.views (eventually consistent)
    view_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    renditions: Mapped[list[Rendition]] = relationship(
        back_populates="video",
        cascade="all, delete-orphan",
        order_by="Rendition.height",
        lazy="selectin",
    )

    __table_args__ = (Index("ix_videos_created", "created_at", "id"),)


class Rendition(Base):
    """One rung of a published (or being published) ladder."""

    __tablename__ = "renditions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bandwidth: Mapped[int] = mapped_column(Integer)
    average_bandwidth: Mapped[int | None] = mapped_column(Integer, default=None)
    codecs: Mapped[str | None] = mapped_column(String(100), default=None)
    playlist: Mapped[str] = mapped_column(String(100))
    # every segment its playlist will ever list exists (the rendition is complete); one that
    # grows while its rev is being produced is named in ``videos.media["growing"]``
    ready: Mapped[bool] = mapped_column(Boolean, default=False)

    video: Mapped[Video] = relationship(back_populates="renditions")


class Caption(Base):
    """A caption track of a video, one per language. The WebVTT text is stored at
    ``storage_key`` (``videos/{id}/captions/{lang}.vtt``) and published into every rev."""

    __tablename__ = "captions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    lang: Mapped[str] = mapped_column(String(35))
    label: Mapped[str] = mapped_column(String(100))
    storage_key: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(Integer)
    cues: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("video_id", "lang", name="uq_captions_video_lang"),)


class Upload(Base):
    """A tus upload; ``offset`` counts durable bytes.

    With local storage the bytes live in the staging folder. With S3 storage they live in the
    object store (``reelstream.ingest.staging.object``): ``multipart_id`` is the multipart upload
    into ``videos/{video_id}/source``, ``parts`` its uploaded parts as ``[number, etag, size]``
    and the rest of ``offset`` (the bytes after the last part) a tail object. ``lock_token``
    and ``locked_until`` are the write lease one request holds (any api instance).
    """

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    multipart_id: Mapped[str | None] = mapped_column(String(255), default=None)
    parts: Mapped[list[list[Any]] | None] = mapped_column(JSON, default=None)
    lock_token: Mapped[str | None] = mapped_column(String(32), default=None)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class Job(Base):
    """A durable unit of work, claimed by a worker under a lease.

    ``attempts`` counts claims; the pair (id, attempts) fences every write a worker makes, so a
    worker whose lease expired can neither heartbeat, nor complete, nor publish.

    ``payload`` is what the kind needs beyond the video (a ``rendition`` job: the renditions to
    encode again); ``stages`` is the timeline of the current or last attempt
    (``reelstream.processing.timeline``), written with the heartbeats; ``started_at`` is when
    that attempt was claimed.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="transcode")
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_rev: Mapped[str | None] = mapped_column(String(16), default=None)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    stages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)

    __table_args__ = (
        Index("ix_jobs_claim", "state", "run_at"),
        Index("ix_jobs_lease", "state", "lease_expires_at"),
    )


class Worker(Base):
    """A worker process (``reelstream worker`` or the workers inside ``serve``), as it last
    reported itself: ``id`` is ``host:pid``; ``heartbeat_at`` is renewed every
    ``settings.heartbeat_s`` while it runs; ``stopped_at`` is set when it stops cleanly."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    slots: Mapped[int] = mapped_column(Integer)
    running: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


WEBHOOK_DELIVERY_STATES = ("pending", "sending", "delivered", "failed")


class WebhookEndpoint(Base):
    """A URL a user asked to be told about their videos' events (``reelstream.webhooks``).

    ``events`` is a space-separated subset of ``reelstream.webhooks.events.EVENT_TYPES``;
    ``secret`` is the endpoint's random signing key, kept as-is because signing needs it."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(300), default="")
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEvent(Base):
    """One event of the transactional outbox, written in the transaction of the state change
    it reports. ``body`` is the exact JSON every delivery of it sends (so retries are
    byte-identical). No foreign key to the video: ``video.deleted`` outlives its video."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    video_id: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint, claimed by a dispatcher under a lease like a job.

    ``attempts`` counts claims and fences the dispatcher's result write; ``state`` is
    pending (due at ``next_attempt_at``), sending (leased until ``lease_expires_at``),
    delivered, or failed (gave up after the retry window)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_lease", "state", "lease_expires_at"),
    )


class WatchPosition(Base):
    """Where a signed-in user stopped watching a video (``reelstream.views``): one row per
    user and video, upserted in batches."""

    __tablename__ = "watch_positions"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position_s: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class QoeSession(Base):
    """One player session's viewer-experience figures (``reelstream.qoe``): the latest
    cumulative report of a session, merged field by field (the figures only grow), upserted in
    batches. What the Prometheus counters took from a session is derived from its stored row
    (``reelstream.qoe.deltas``), so a repeated or late beacon never counts twice."""

    __tablename__ = "qoe_sessions"

    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    engine: Mapped[str] = mapped_column(String(16), default="")
    started: Mapped[bool] = mapped_column(Boolean, default=False)
    exited: Mapped[bool] = mapped_column(Boolean, default=False)
    startup_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    watch_s: Mapped[float] = mapped_column(Float, default=0.0)
    rebuffer_s: Mapped[float] = mapped_column(Float, default=0.0)
    rebuffer_count: Mapped[int] = mapped_column(Integer, default=0)
    switches: Mapped[int] = mapped_column(Integer, default=0)
    bitrate_bps: Mapped[int] = mapped_column(BigInteger, default=0)
    upscale_pct: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
