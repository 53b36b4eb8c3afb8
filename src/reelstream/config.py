"""All of reelstream's configuration, in one pydantic-settings object.

Every field can be set from the environment as ``REELSTREAM_<FIELD>`` (upper case) or from a
``.env`` file. ``Settings`` is built by the app factory or the CLI, never at import time.
``docs/configuration.md`` documents every field; a test fails when one is missing there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reelstream.errors import ConfigError

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "dev", "development", "test", "password", "insecure"}
)


class Rung(BaseModel):
    """One rendition of the adaptive-bitrate ladder."""

    height: int = Field(gt=0, le=4320)
    video_kbps: int = Field(gt=0)
    max_fps: float = Field(default=30.0, gt=0, le=120)


DEFAULT_LADDER = [
    Rung(height=240, video_kbps=400),
    Rung(height=360, video_kbps=800),
    Rung(height=480, video_kbps=1400),
    Rung(height=720, video_kbps=2800, max_fps=60),
    Rung(height=1080, video_kbps=5000, max_fps=60),
]

DEFAULT_FORMATS = [
    "mov,mp4,m4a,3gp,3g2,mj2",
    "matroska,webm",
    "avi",
    "mpegts",
    "flv",
    "ogg",
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REELSTREAM_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    # -- general
    env: Literal["development", "production"] = "production"
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_base_url: str | None = None
    log_level: str = "INFO"
    # text: "time LEVEL logger: message [request_id=...]"; json: one object per line
    # (reelstream.observability.logging)
    log_format: Literal["text", "json"] = "text"
    # one line per request from uvicorn: off by default, it costs more CPU than sending a
    # segment (docs/performance.md); requests are counted in /metrics, the edge logs them
    access_log: bool = False

    # -- HTTP server (reelstream.cli.server, reelstream.http.admission)
    http_workers: int | None = Field(default=None, ge=1, le=256)
    # proxies whose X-Forwarded-For/-Proto are believed (uvicorn's forwarded_allow_ips);
    # None: uvicorn's default (FORWARDED_ALLOW_IPS, else 127.0.0.1)
    forwarded_allow_ips: str | None = None
    max_inflight: int = Field(default=64, ge=0)
    max_inflight_media: int = Field(default=256, ge=0)
    max_inflight_uploads: int = Field(default=32, ge=0)

    # -- database
    database_url: str | None = None
    database_replica_url: str | None = None
    database_pool_size: int = Field(default=10, ge=1)
    database_timeout_s: float = Field(default=5, gt=0)

    # -- redis (optional accelerator: cache, wake-ups; never the source of truth)
    redis_url: str | None = None
    cache_ttl_s: float = Field(default=30, gt=0)
    cache_local_entries: int = Field(default=4096, ge=0)
    cache_local_ttl_s: float = Field(default=2, gt=0)
    cache_list_ttl_s: float = Field(default=1, gt=0)

    # -- storage
    storage_backend: Literal["local", "memory", "s3"] = "local"
    storage_root: Path | None = None
    s3_endpoint_url: str | None = None
    s3_bucket: str = "reelstream"
    s3_region: str = "us-east-1"
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_addressing_style: Literal["path", "virtual", "auto"] = "path"
    s3_part_size: int = Field(default=8 * 1024**2, ge=5 * 1024**2)

    # -- ingest
    upload_dir: Path | None = None
    max_upload_bytes: int = Field(default=20 * 1024**3, gt=0)
    upload_expiry_s: int = Field(default=24 * 3600, gt=0)

    # -- validation
    allowed_formats: list[str] = Field(default_factory=lambda: list(DEFAULT_FORMATS))
    max_width: int = Field(default=7680, gt=0)
    max_height: int = Field(default=4320, gt=0)
    max_duration_s: float = Field(default=6 * 3600, gt=0)

    # -- transcode
    ffmpeg_path: str | None = None
    ladder: list[Rung] = Field(default_factory=lambda: list(DEFAULT_LADDER))
    segment_s: int = Field(default=4, ge=1, le=10)
    gop_s: int = Field(default=2, ge=1, le=10)
    x264_preset: str = "veryfast"
    # publish a new video's rev while it is encoded: playable at its lowest rung seconds
    # after the upload (reelstream.processing.progressive)
    progressive_publish: bool = True
    # a video at least chunk_min_s long is encoded in chunk_s chunks that any worker can take
    # (reelstream.processing.chunked); chunk_s=0: never
    chunk_s: int = Field(default=60, ge=0, le=3600)
    chunk_min_s: float = Field(default=180, ge=0)
    audio_kbps: int = Field(default=128, gt=0)
    poster_at_s: float = Field(default=1.0, ge=0)
    transcode_timeout_s: float = Field(default=3600, gt=0)
    ffmpeg_threads: int = Field(default=0, ge=0)
    audio_only_rung: bool = False

    # -- queue and workers
    embedded_workers: bool = True
    worker_concurrency: int = Field(default=1, ge=1, le=64)
    lease_s: float = Field(default=60, gt=0)
    heartbeat_s: float = Field(default=10, gt=0)
    reaper_interval_s: float = Field(default=10, gt=0)
    poll_interval_s: float = Field(default=2, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    retry_base_s: float = Field(default=10, ge=0)
    retry_max_s: float = Field(default=600, ge=0)
    shutdown_grace_s: float = Field(default=30, ge=0)

    # -- signed playback
    signing_keys: dict[str, SecretStr] = Field(default_factory=dict)
    signing_key_id: str = "k1"
    signing_key_created: dt.date | None = None
    playback_ttl_s: int = Field(default=6 * 3600, gt=0)
    public_playback_ttl_s: int | None = Field(default=None, gt=0)

    # -- accounts
    signup_enabled: bool | None = None
    session_ttl_s: int = Field(default=14 * 24 * 3600, gt=0)
    dev_admin: bool = True
    bootstrap_admin_token: SecretStr | None = None

    # -- webhooks
    webhook_allow_private: bool | None = None
    webhook_timeout_s: float = Field(default=10, gt=0)
    webhook_retry_base_s: float = Field(default=10, gt=0)
    webhook_retry_max_s: float = Field(default=3600, gt=0)
    webhook_retry_window_s: float = Field(default=24 * 3600, gt=0)
    webhook_concurrency: int = Field(default=8, ge=1, le=256)
    webhook_poll_interval_s: float = Field(default=2, gt=0)

    # -- rate limits (the ``limits`` notation: "10/minute", several with ";"; docs/limits.md)
    rate_limit_enabled: bool = True
    rate_limit_login: str = "10/minute"
    rate_limit_login_ip: str = "60/minute"
    rate_limit_signup: str = "20/hour"
    rate_limit_upload: str = "120/hour"
    rate_limit_tokens: str = "20/hour"
    rate_limit_writes: str = "600/minute"
    rate_limit_reads: str = "3000/minute"
    rate_limit_beacons: str = "600/minute"

    # -- storage quotas
    default_quota_bytes: int = Field(default=10 * 1024**3, ge=0)

    # -- views and resume (reelstream.views)
    views_flush_interval_s: float = Field(default=10, gt=0)
    views_flush_batch: int = Field(default=500, ge=1)
    views_dedupe_window_s: float = Field(default=1800, ge=0)

    # -- viewer QoE (reelstream.qoe): flushed with the views' interval and batch
    qoe_retention_days: float = Field(default=30, gt=0)

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip().rstrip("/")
        parts = urlsplit(v)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.username is not None
            or parts.query
            or parts.fragment
            or any(c.isspace() for c in v)
        ):
            raise ValueError(
                f"{v!r} is not a base URL such as 'https://videos.example.com' "
                "(http or https, a host, an optional port and path; no query or credentials)"
            )
        return v

    @field_validator("ladder")
    @classmethod
    def _ladder_not_empty(cls, v: list[Rung]) -> list[Rung]:
        if not v:
            raise ValueError("the ladder needs at least one rung")
        return sorted(v, key=lambda r: r.height)

    @field_validator(
        "rate_limit_login",
        "rate_limit_login_ip",
        "rate_limit_signup",
        "rate_limit_upload",
        "rate_limit_tokens",
        "rate_limit_writes",
        "rate_limit_reads",
        "rate_limit_beacons",
    )
    @classmethod
    def _rate_limit(cls, v: str) -> str:
        from limits import parse_many

        try:
            parse_many(v)
        except ValueError as exc:
            raise ValueError(f"{v!r} is not a rate limit such as '10/minute': {exc}") from None
        return v

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.segment_s % self.gop_s:
            raise ValueError("segment_s must be a multiple of gop_s so segments start on keyframes")
        if self.heartbeat_s * 2 > self.lease_s:
            raise ValueError("heartbeat_s must be at most half of lease_s")
        for kid in self.signing_keys:
            if not kid.isalnum():
                raise ValueError(f"signing key id {kid!r} must be alphanumeric")
        return self

    # -- derived locations
    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'reelstream.db').resolve()}"

    @property
    def resolved_storage_root(self) -> Path:
        return (self.storage_root or self.data_dir / "storage").resolve()

    @property
    def resolved_upload_dir(self) -> Path:
        return (self.upload_dir or self.data_dir / "uploads").resolve()

    @property
    def work_dir(self) -> Path:
        return (self.data_dir / "work").resolve()

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def allow_signup(self) -> bool:
        """``signup_enabled`` if set, else on in development and off otherwise."""
        return self.is_development if self.signup_enabled is None else self.signup_enabled

    @property
    def allow_private_webhooks(self) -> bool:
        """``webhook_allow_private`` if set, else on in development and off otherwise."""
        if self.webhook_allow_private is None:
            return self.is_development
        return self.webhook_allow_private

    def playback_ttl_for(self, visibility: str) -> int:
        """Lifetime of playback tokens for a video of this visibility."""
        if visibility == "public" and self.public_playback_ttl_s is not None:
            return self.public_playback_ttl_s
        return self.playback_ttl_s

    def prepare(self) -> None:
        """Create the data folders and make sure there is a usable signing key.

        With no key configured, one is generated once and kept in ``<data_dir>/secrets`` (mode
        0600), so a fresh install is secure without a placeholder. A configured key that is a
        known placeholder is refused outside development mode.
        """
        for d in (self.data_dir, self.resolved_upload_dir, self.work_dir):
            d.mkdir(parents=True, exist_ok=True)
        if self.storage_backend == "local":
            self.resolved_storage_root.mkdir(parents=True, exist_ok=True)
        if not self.signing_keys:
            self.signing_keys = {self.signing_key_id: SecretStr(self._stored_key("signing.key"))}
        if self.signing_key_id not in self.signing_keys:
            raise ConfigError(f"signing_key_id {self.signing_key_id!r} is not in signing_keys")
        if self.bootstrap_admin_token is not None:
            if not self.is_development:
                raise ConfigError(
                    "bootstrap_admin_token is a development-only setting; create the first "
                    "admin with `reelstream users create NAME --admin`"
                )
            if not self.bootstrap_admin_token.get_secret_value().startswith("rs_"):
                raise ConfigError("bootstrap_admin_token must start with 'rs_'")
        if not self.is_development:
            for kid, key in self.signing_keys.items():
                value = key.get_secret_value()
                if value.lower() in PLACEHOLDER_SECRETS or len(value) < 32:
                    raise ConfigError(
                        f"signing key {kid!r} is a placeholder or shorter than 32 characters; "
                        "set a real secret or use REELSTREAM_ENV=development"
                    )

    def require_public_base_url(self) -> bool:
        """Outside development, a process that signs playback URLs (the ``all`` and ``api``
        roles) needs ``public_base_url``: without it the URLs would be built from the request's
        ``Host`` header, which a client chooses.

        A server that listens on a loopback address only (``reelstream serve`` as it comes)
        can be reached by local clients only, so its own address is the base: it is taken as
        ``public_base_url`` and True is returned (the caller says so in its log). Any other
        listening address without the setting is a ``ConfigError``.
        """
        if self.public_base_url is not None or self.is_development:
            return False
        if _is_loopback(self.host):
            host = f"[{self.host}]" if ":" in self.host else self.host
            self.public_base_url = f"http://{host}:{self.port}"
            return True
        raise ConfigError(
            "public_base_url (REELSTREAM_PUBLIC_BASE_URL) must be set outside development "
            f"when listening on {self.host}: signed playback URLs are built on it, never on the "
            "request's Host header; set it to the address clients use, e.g. "
            "https://videos.example.com, or use REELSTREAM_ENV=development"
        )

    def signing_key_created_ts(self) -> float | None:
        """When the signing key in use was created (unix time), for the rotation alert:
        ``signing_key_created``, else the date of the generated key's file; None: unknown."""
        if self.signing_key_created is not None:
            return dt.datetime.combine(self.signing_key_created, dt.time(), dt.UTC).timestamp()
        key = self.signing_keys.get(self.signing_key_id)
        path = self.data_dir / "secrets" / "signing.key"
        with contextlib.suppress(OSError):
            if key is not None and path.read_text().strip() == key.get_secret_value():
                return path.stat().st_mtime
        return None

    def _stored_key(self, name: str) -> str:
        path = self.data_dir / "secrets" / name
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value)
        tmp.chmod(0o600)
        tmp.replace(path)
        return value


def _is_loopback(host: str) -> bool:
    """Whether ``host`` (a listening address) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
