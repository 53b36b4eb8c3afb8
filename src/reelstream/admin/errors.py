"""Errors of the admin API.

ReelstreamError
└── AdminError
    ├── JobNotFound    404: no job with that id
    └── UserNotFound   404: no user with that id
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class AdminError(ReelstreamError):
    code = "admin_error"


class JobNotFound(AdminError):
    code = "job_not_found"
    status = 404


class UserNotFound(AdminError):
    code = "user_not_found"
    status = 404
