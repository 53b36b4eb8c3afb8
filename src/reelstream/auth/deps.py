"""FastAPI dependencies: who is calling, and may they.

Credentials, in this order:

1. ``Authorization: Bearer rs_...``: a personal access token. An Authorization header that is
   not a live token is a 401, never a silent fallback to anonymous. No CSRF token needed:
   browsers never attach it on their own.
2. The ``rs_session`` cookie: a web session with every scope. An unsafe request (anything but
   GET, HEAD, OPTIONS) must carry the session's CSRF token: header ``X-CSRF-Token`` (scripts)
   or form field ``csrf_token`` (HTML forms); otherwise 403 ``csrf_failed``. A stale cookie
   counts as no credential.

``current_user`` gives the ``Principal`` or None; ``require_user(scope)`` demands one with the
scope (401 / 403). ``authorize`` applies ``reelstream.auth.policy`` to one video.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request

from reelstream.auth import policy
from reelstream.auth.errors import (
    CsrfFailed,
    Forbidden,
    InsufficientScope,
    InvalidAccountInput,
    NotAuthenticated,
)
from reelstream.auth.sessions import COOKIE_NAME, csrf_matches, resolve_session
from reelstream.auth.tokens_api import ALL_SCOPES, effective_scopes, record_use, resolve_token
from reelstream.http.deps import ServicesDep

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
FORM_TYPES = ("application/x-www-form-urlencoded",)  # multipart bodies are streamed: header


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    id: str
    username: str
    is_admin: bool
    scopes: frozenset[str]
    via: str  # "token" or "session"
    csrf_token: str | None = None
    session_cookie: str | None = None

    @property
    def acts_as_admin(self) -> bool:
        return self.is_admin and "admin" in self.scopes

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


MAX_FORM_BYTES = 64 * 1024


async def read_form(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body (at most 64 KiB), read once per request;
    any other content type gives an empty form."""
    cached: dict[str, list[str]] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    form: dict[str, list[str]] = {}
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind in FORM_TYPES:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise InvalidAccountInput("the form is too large")
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    request.state.form = form
    return form


def form_value(form: dict[str, list[str]], name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0] if values else default


async def _csrf_given(request: Request) -> str | None:
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        given = form_value(await read_form(request), CSRF_FIELD) or None
    return given


async def resolve_principal(request: Request, services: ServicesDep) -> Principal | None:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None or getattr(request.state, "principal_done", False):
        return cached
    principal = await _resolve(request, services)
    request.state.principal = principal
    request.state.principal_done = True
    return principal


async def _resolve(request: Request, services: ServicesDep) -> Principal | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise NotAuthenticated("the Authorization header must be 'Bearer <access token>'")
        # Reads may be answered by the replica (so they keep working while the primary is
        # down); anything that writes checks the credential on the primary.
        async with services.db.read(primary=request.method not in SAFE_METHODS) as s:
            found = await resolve_token(s, value.strip())
        if found is None:
            raise NotAuthenticated("the access token is unknown, revoked or malformed")
        user, token = found
        await record_use(services.db, token)
        return Principal(
            id=user.id,
            username=user.username,
            is_admin=user.is_admin,
            scopes=effective_scopes(token.scopes),
            via="token",
        )
    cookie = request.cookies.get(COOKIE_NAME)
    if not cookie:
        return None
    async with services.db.read(primary=True) as s:  # a session must work right after sign-in
        live = await resolve_session(s, cookie)
        if live is None:
            return None
        user, web = live
        principal = Principal(
            id=user.id,
            username=user.username,
            is_admin=user.is_admin,
            scopes=ALL_SCOPES,
            via="session",
            csrf_token=web.csrf_token,
            session_cookie=cookie,
        )
    if request.method not in SAFE_METHODS:
        assert principal.csrf_token is not None
        if not csrf_matches(principal.csrf_token, await _csrf_given(request)):
            raise CsrfFailed(
                "this request is authenticated by the session cookie and must carry the "
                "session's CSRF token (X-CSRF-Token header or csrf_token form field)"
            )
    return principal


def require_user(scope: str = "read") -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, who must be signed in and hold ``scope``."""

    async def dependency(request: Request, services: ServicesDep) -> Principal:
        principal = await resolve_principal(request, services)
        if principal is None:
            raise NotAuthenticated("sign in, or send 'Authorization: Bearer <access token>'")
        if not principal.has_scope(scope):
            raise InsufficientScope(f"this request needs an access token with the {scope!r} scope")
        return principal

    return dependency


CurrentUser = Annotated[Principal | None, Depends(resolve_principal)]
ReadUser = Annotated[Principal, Depends(require_user("read"))]
WriteUser = Annotated[Principal, Depends(require_user("write"))]


def permits(
    principal: Principal | None, action: policy.Action, *, owner_id: str | None, visibility: str
) -> bool:
    """Whether ``authorize`` would let ``principal`` do ``action`` (scope and policy), without
    raising: for what a response shows, not whether it is answered."""
    if principal is not None and not principal.has_scope(policy.SCOPE[action]):
        return False
    role = policy.role_of(
        user_id=principal.id if principal else None,
        is_admin=principal.acts_as_admin if principal else False,
        owner_id=owner_id,
    )
    return policy.allowed(action, role, visibility)


def authorize(
    principal: Principal | None,
    action: policy.Action,
    *,
    owner_id: str | None,
    visibility: str,
    what: str = "video",
) -> policy.Role:
    """Apply the policy table; raises 401 (anonymous) or 403 (with the reason) when denied."""
    if principal is not None and not principal.has_scope(policy.SCOPE[action]):
        raise InsufficientScope(
            f"this request needs an access token with the {policy.SCOPE[action]!r} scope"
        )
    role = policy.role_of(
        user_id=principal.id if principal else None,
        is_admin=principal.acts_as_admin if principal else False,
        owner_id=owner_id,
    )
    if policy.allowed(action, role, visibility):
        return role
    if role == "anonymous":
        raise NotAuthenticated(f"this {visibility} {what} needs you to sign in")
    if action in ("view", "playback"):
        raise Forbidden(f"this {what} is {visibility}: only its owner and admins can see it")
    if action == "upload":
        raise Forbidden("only the user who created this upload can continue or terminate it")
    raise Forbidden(f"only the {what}'s owner or an admin may {action} it")
