"""THE authorization table: (action, role of the caller, visibility of the video) -> allowed.

Roles are relative to one video: ``anonymous`` (no credential), ``user`` (signed in, not the
owner), ``owner`` (uploaded it), ``admin`` (an admin user, acting through a session or a token
with the ``admin`` scope). docs/accounts.md carries the same table; tests/auth/test_matrix.py
walks it over every endpoint and page.

Actions and what uses them:

* ``view``: ``GET /api/v1/videos/{id}``, ``GET .../captions``, the watch page ``/watch/{id}``,
  the player beacons ``POST .../views`` and ``POST .../progress``
* ``inspect``: processing detail: ``GET .../timeline``, and the values of ``job``,
  ``filename`` and ``error`` in a video's JSON (withheld from others, the fields stay); the
  watch page's renditions and processing sections
* ``playback``: ``GET /api/v1/videos/{id}/playback`` (and so the media behind its signed URLs)
* ``edit``: ``PATCH /api/v1/videos/{id}``, caption upload/delete, poster choice; the studio
  page ``/studio/{id}`` and its forms (``reelstream.web.studio``)
* ``retry``: ``POST /api/v1/videos/{id}/retry`` (a failed video) and
  ``POST /api/v1/videos/{id}/renditions/{name}/retry`` (failed renditions), also from the
  watch page
* ``delete``: ``DELETE /api/v1/videos/{id}``, the studio's ``/studio/{id}/delete``
* ``upload``: tus ``HEAD``/``PATCH``/``DELETE /api/v1/uploads/{id}`` (continue or terminate)

Listing is a query, not a per-video decision: the library and ``GET /api/v1/videos`` list
``public`` videos only, ``?owner=me`` lists the caller's own videos of every visibility.
Creating an upload needs any signed-in user with the ``write`` scope.

Admin operations (jobs, workers, storage, and user management: disable, promote, reset a
password) are not per video: they need an admin acting as one, one check for the API and the
pages alike (``reelstream.admin.service.require_admin``), plus the rules of
``reelstream.admin.users`` (not yourself, never the last active admin).
"""

from __future__ import annotations

from typing import Final, Literal

Action = Literal["view", "playback", "inspect", "edit", "retry", "delete", "upload"]
Role = Literal["anonymous", "user", "owner", "admin"]
Visibility = Literal["public", "unlisted", "private"]

ACTIONS: Final[tuple[Action, ...]] = (
    "view",
    "playback",
    "inspect",
    "edit",
    "retry",
    "delete",
    "upload",
)
ROLES: Final[tuple[Role, ...]] = ("anonymous", "user", "owner", "admin")
VISIBILITIES: Final[tuple[Visibility, ...]] = ("public", "unlisted", "private")

_ALL: Final = frozenset(VISIBILITIES)
_LINK: Final = frozenset({"public", "unlisted"})
_NONE: Final[frozenset[str]] = frozenset()

# action -> role -> the visibilities for which the role may do it
POLICY: Final[dict[Action, dict[Role, frozenset[str]]]] = {
    "view": {"anonymous": _LINK, "user": _LINK, "owner": _ALL, "admin": _ALL},
    "playback": {"anonymous": _LINK, "user": _LINK, "owner": _ALL, "admin": _ALL},
    "inspect": {"anonymous": _NONE, "user": _NONE, "owner": _ALL, "admin": _ALL},
    "edit": {"anonymous": _NONE, "user": _NONE, "owner": _ALL, "admin": _ALL},
    "retry": {"anonymous": _NONE, "user": _NONE, "owner": _ALL, "admin": _ALL},
    "delete": {"anonymous": _NONE, "user": _NONE, "owner": _ALL, "admin": _ALL},
    "upload": {"anonymous": _NONE, "user": _NONE, "owner": _ALL, "admin": _NONE},
}

# the token scope an action needs (sessions have every scope)
SCOPE: Final[dict[Action, str]] = {
    "view": "read",
    "playback": "read",
    "inspect": "read",
    "edit": "write",
    "retry": "write",
    "delete": "write",
    "upload": "write",
}


def allowed(action: Action, role: Role, visibility: str) -> bool:
    return visibility in POLICY[action][role]


def role_of(*, user_id: str | None, is_admin: bool, owner_id: str | None) -> Role:
    if user_id is None:
        return "anonymous"
    if owner_id is not None and owner_id == user_id:
        return "owner"
    return "admin" if is_admin else "user"
