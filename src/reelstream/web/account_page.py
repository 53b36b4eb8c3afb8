"""The account page (``/account``) and its forms: change the password, the signed-in browsers
(sign one out, or every other one), personal access tokens (create, revoke).

Every form answers with a redirect back to ``/account`` (POST-redirect-GET: a reload repeats
nothing); a refused form renders the page again with the reason and the error's status (422 bad
input, 403 wrong current password, 429 rate limited). A new access token is shown once, on the
GET after its redirect, through a flash cookie that never holds it (``reelstream.web.flash``).
The page needs a browser session: access tokens do not manage accounts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from reelstream.account import service as account_service
from reelstream.auth import sessions, tokens_api
from reelstream.auth.deps import Principal, ReadUser, form_value, read_form
from reelstream.auth.errors import AuthError, Forbidden, InvalidAccountInput
from reelstream.db.models import SCOPES, User
from reelstream.formatting import human_bytes
from reelstream.http.deps import ServicesDep
from reelstream.quota.usage import user_usage
from reelstream.ratelimit.deps import limit_password_change, limit_tokens, limit_writes
from reelstream.ratelimit.errors import RateLimited
from reelstream.web import flash
from reelstream.web.account import _refusal, _secure
from reelstream.web.render import page_context, render

if TYPE_CHECKING:
    from reelstream.services import Services

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

SessionId = Annotated[str, Path(min_length=1, max_length=64)]

SCOPE_HELP: dict[str, str] = {
    "read": "List and watch videos, including your own private and unlisted ones.",
    "write": "Upload, edit and delete your videos (includes read). Uploads need it.",
    "admin": (
        "Act as an admin: every user's videos, jobs, workers, users and quotas "
        "(includes write). Admins only."
    ),
}
DEFAULT_SCOPES = ("read", "write")

NOTICES = {
    "password": "Your password was changed. Your other sessions were signed out.",
    "signed-out": "That session was signed out.",
    "others": "Every other session was signed out.",
    "revoked": "The token was revoked.",
}


def keeper(services: Services) -> flash.FlashKeeper:
    key = services.settings.signing_keys[services.settings.signing_key_id].get_secret_value()
    return flash.FlashKeeper(key)


def set_flash(
    response: Response, services: Services, request: Request, kind: flash.Kind, value: str
) -> None:
    response.set_cookie(
        flash.COOKIE_NAMES[kind],
        value,
        max_age=flash.TTL_S,
        path=flash.COOKIE_PATHS[kind],
        secure=_secure(services, request),
        httponly=True,
        samesite="strict",
    )


def take_flash(
    services: Services, request: Request, user: Principal, kind: flash.Kind
) -> tuple[flash.Opened | None, bool]:
    """The flash of ``kind`` for this session (None: none or not ours) and whether the
    browser holds such a cookie (then the response deletes it)."""
    value = request.cookies.get(flash.COOKIE_NAMES[kind])
    opened = keeper(services).open(kind, sessions.current_session_id(user.session_cookie), value)
    return opened, value is not None


def _session_only(user: Principal) -> None:
    if user.via != "session":
        raise Forbidden("your account is managed from a signed-in browser session")


async def _page(
    services: Services,
    user: Principal,
    status: int = 200,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    async with services.db.read(primary=True) as s:
        tokens = await tokens_api.list_tokens(s, user.id)
        me = await s.get(User, user.id)
        usage = (
            None if me is None else await user_usage(s, me, services.settings.default_quota_bytes)
        )
    browsers = await account_service.list_sessions(services, user)
    response = render(
        "account.html",
        status,
        page="account",
        tokens=tokens,
        usage=usage,
        human_bytes=human_bytes,
        sessions=browsers,
        scopes=[sc for sc in SCOPES if sc != "admin" or user.is_admin],
        scope_help=SCOPE_HELP,
        default_scopes=DEFAULT_SCOPES,
        **extra,
        **page_context(services, user),
    )
    response.headers.update(headers or {})
    return response


async def _refused(
    services: Services, user: Principal, exc: AuthError | RateLimited, **extra: Any
) -> Response:
    status, error, headers = _refusal(exc)
    return await _page(services, user, status, headers=headers, error=error, **extra)


def _back(notice: str, anchor: str) -> RedirectResponse:
    return RedirectResponse(f"/account?notice={notice}#{anchor}", status_code=303)


@router.get("/account", name="account")
async def account_page(request: Request, services: ServicesDep, user: ReadUser) -> Response:
    _session_only(user)
    opened, had_cookie = take_flash(services, request, user, "token")
    new_token = None
    if opened is not None:
        async with services.db.read(primary=True) as s:
            rows = {t.id: t for t in await tokens_api.list_tokens(s, user.id)}
        row = rows.get(opened.ref)
        plain = tokens_api.PREFIX + opened.secret
        if row is not None and row.token_hash == tokens_api.token_hash(plain):
            new_token = {"name": row.name, "value": plain}
    response = await _page(
        services,
        user,
        new_token=new_token,
        notice=NOTICES.get(request.query_params.get("notice", "")),
    )
    if had_cookie:  # shown once: a reload finds no cookie
        response.delete_cookie(flash.COOKIE_NAMES["token"], path=flash.COOKIE_PATHS["token"])
    return response


# -- password ----------------------------------------------------------------------------------


@router.post("/account/password")
async def change_password(request: Request, services: ServicesDep, user: ReadUser) -> Response:
    """Fields ``current_password``, ``new_password``, ``new_password_again``."""
    _session_only(user)
    form = await read_form(request)
    current, new = form_value(form, "current_password"), form_value(form, "new_password")
    try:
        if new != form_value(form, "new_password_again"):
            raise InvalidAccountInput("the two new passwords differ")
        await limit_password_change(request, user.username)
        await account_service.change_password(services, user, current, new)
    except (AuthError, RateLimited) as exc:
        return await _refused(services, user, exc, password_error=True)
    return _back("password", "password")


# -- sessions ----------------------------------------------------------------------------------


@router.post("/account/sessions/{session_id}/end")
async def end_session(
    session_id: SessionId, request: Request, services: ServicesDep, user: ReadUser
) -> Response:
    _session_only(user)
    try:
        await limit_writes(request, services)
        await account_service.end_session(services, user, session_id)
    except (AuthError, RateLimited) as exc:
        return await _refused(services, user, exc)
    if session_id == sessions.current_session_id(user.session_cookie):
        response = RedirectResponse("/login", status_code=303)  # this browser: signed out
        response.delete_cookie(sessions.COOKIE_NAME, path="/")
        return response
    return _back("signed-out", "sessions")


@router.post("/account/sessions/end-others")
async def end_other_sessions(request: Request, services: ServicesDep, user: ReadUser) -> Response:
    _session_only(user)
    try:
        await limit_writes(request, services)
    except RateLimited as exc:
        return await _refused(services, user, exc)
    await account_service.end_other_sessions(services, user)
    return _back("others", "sessions")


# -- access tokens -----------------------------------------------------------------------------


@router.post("/account/tokens")
async def create_token(request: Request, services: ServicesDep, user: ReadUser) -> Response:
    """Create a token, then redirect to ``/account``, which shows it once."""
    _session_only(user)
    form = await read_form(request)
    name, scopes = form_value(form, "name"), form.get("scopes")
    keep = keeper(services)
    seed = keep.new_seed()
    try:
        await limit_tokens(request, services)
        async with services.db.transaction() as s:
            owner = await s.get(User, user.id)
            assert owner is not None
            _, row = await tokens_api.create_token(
                s, owner, name, scopes or [], plain=tokens_api.PREFIX + keep.secret("token", seed)
            )
    except (AuthError, RateLimited) as exc:
        return await _refused(services, user, exc, token_name=name, token_scopes=scopes or [])
    sid = sessions.current_session_id(user.session_cookie)
    assert sid is not None
    response = RedirectResponse("/account#new-token-box", status_code=303)
    set_flash(response, services, request, "token", keep.seal("token", sid, row.id, seed))
    return response


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(
    token_id: str, request: Request, services: ServicesDep, user: ReadUser
) -> Response:
    _session_only(user)
    try:
        await limit_writes(request, services)
        async with services.db.transaction() as s:
            await tokens_api.revoke_token(s, user.id, token_id)
    except (AuthError, RateLimited) as exc:
        return await _refused(services, user, exc)
    return _back("revoked", "tokens")
