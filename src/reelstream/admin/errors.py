"""Errors of the admin API.

ReelstreamError
└── AdminError
    ├── JobNotFound    404: no job with that id
    ├── UserNotFound   404: no user with that id
    └── UserChangeRefused  409: a change to a user the rules forbid
        ├── CannotChangeSelf   an admin disabling, demoting or resetting themself
        └── LastAdmin          it would leave no active admin
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


class UserChangeRefused(AdminError):
    code = "user_change_refused"
    status = 409


class CannotChangeSelf(UserChangeRefused):
    code = "cannot_change_self"


class LastAdmin(UserChangeRefused):
    code = "last_admin"
