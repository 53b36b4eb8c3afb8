"""Request and response bodies of the admin API (``reelstream.admin.routes``).

``JobOut`` is the one shape of a job with its video's title and owner: the admin service
(``reelstream.admin.service``) builds it, the API answers it and the admin page reads it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from reelstream.http.schemas import RequestBody, Schema

MAX_QUOTA_BYTES = 2**63 - 1  # what the BIGINT column holds

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobOut(Schema):
    # A job with the title and owner of its video (no docstring: it would enter the OpenAPI).
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    video_id: str
    video_title: str
    owner_username: str | None = Field(description="The video's owner; null: none")
    kind: str = Field(description="transcode, rendition, poster or cleanup")
    state: JobState
    attempts: int
    max_attempts: int
    progress: float
    last_error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    run_at: dt.datetime
    lease_owner: str | None = Field(description="host:pid:slot of the worker holding it")
    heartbeat_at: dt.datetime | None
    payload: dict[str, Any] | None


class JobList(Schema):
    items: list[JobOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")
    counts: dict[str, int] = Field(description="Every job by state (regardless of filters)")


class DegradedOut(Schema):
    video_id: str
    video_title: str
    owner_username: str | None
    failed: dict[str, str] = Field(description="Rendition -> why it failed")
    retry_queued: bool = Field(description="A retry of its renditions is queued or running")


class DegradedList(Schema):
    videos: list[DegradedOut]


class WorkerOut(Schema):
    id: str = Field(description="host:pid")
    host: str
    pid: int
    slots: int
    running: int = Field(description="Busy slots at the last heartbeat")
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    stopped_at: dt.datetime | None
    seconds_since_heartbeat: float
    stale: bool = Field(description="Not stopped, and silent for more than stale_after_s")
    state: Literal["running", "stale", "stopped"]


class WorkerList(Schema):
    workers: list[WorkerOut]
    heartbeat_s: float
    stale_after_s: float


class UserOut(Schema):
    user_id: str
    username: str
    is_admin: bool
    used_bytes: int
    videos: int
    uploading_bytes: int
    quota_bytes: int | None = Field(description="Effective quota; null: unlimited")
    quota_override: int | None = Field(description="The override; null: the default, 0: none")
    disabled: bool = Field(default=False, description="Cannot sign in; tokens refused")


class UserList(Schema):
    users: list[UserOut]
    default_quota_bytes: int = Field(description="0: unlimited")
    total_bytes: int


class QuotaIn(RequestBody):
    quota_bytes: Annotated[int, Field(strict=True, ge=0, le=MAX_QUOTA_BYTES)] | None = Field(
        description="Bytes; 0: unlimited; null: back to the default"
    )


class UserPatch(RequestBody):
    disabled: bool | None = Field(default=None, description="Disable (true) or enable (false)")
    is_admin: bool | None = Field(default=None, description="Promote (true) or demote (false)")


class PasswordResetIn(RequestBody):
    password: Annotated[str, Field(max_length=4096)] | None = Field(
        default=None, description="The new password; omitted or null: generate one"
    )


class PasswordResetOut(Schema):
    user_id: str
    username: str
    password: str | None = Field(
        description="The generated password, shown this once; null when you chose it"
    )
    generated: bool
    sessions_ended: bool = Field(description="Always true: the user signs in again")
