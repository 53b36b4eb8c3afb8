"""The admin users page (``/admin/users``): every account with disable/enable, promote/demote
and a password reset (the admin types one, or leaves it empty to generate one, shown once).

The forms post to ``/admin/users/{id}/access`` (field ``disabled`` or ``is_admin``: ``true`` or
``false``) and ``/admin/users/{id}/password`` (field ``password``) with the session's CSRF token
and go through ``reelstream.admin.users``, the same rules as ``PATCH /api/v1/admin/users/{id}``
and ``POST .../password``: admins only, not yourself, never the last active admin. Each answers
with a redirect back here and a notice (POST-redirect-GET); a refused change renders the page
again with the reason and the error's status. A generated password reaches the page after the
redirect through a flash cookie that never holds it (``reelstream.web.flash``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from reelstream.admin import users
from reelstream.admin.errors import AdminError
from reelstream.auth import sessions
from reelstream.auth.deps import Principal, ReadUser, form_value, read_form
from reelstream.auth.errors import AuthError, Forbidden, InvalidAccountInput
from reelstream.http.deps import ServicesDep
from reelstream.web import flash
from reelstream.web.account_page import keeper, set_flash, take_flash
from reelstream.web.admin import admins_only
from reelstream.web.render import page_context, render

if TYPE_CHECKING:
    from reelstream.services import Services

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

UserId = Annotated[str, Path(min_length=1, max_length=64)]
_CHANGES = {
    ("disabled", "true"): "disabled",
    ("disabled", "false"): "enabled",
    ("is_admin", "true"): "promoted",
    ("is_admin", "false"): "demoted",
}
_NOTICES = {
    "disabled": "{name} was disabled: signed out everywhere, their access tokens are refused.",
    "enabled": "{name} was enabled.",
    "promoted": "{name} is now an admin.",
    "demoted": "{name} is no longer an admin.",
    "password": "{name} has a new password and was signed out everywhere.",
}


GENERATED_LENGTH = 20  # URL-safe characters of a generated password: 120 bits


def _generated(keep: flash.FlashKeeper, seed: str) -> str:
    return keep.secret("password", seed)[:GENERATED_LENGTH]


async def _page(
    request: Request,
    services: Services,
    user: Principal,
    status: int = 200,
    *,
    error: str | None = None,
    generated: dict[str, str] | None = None,
) -> Response:
    found = await users.list_users(services, user)
    notice = None
    q = request.query_params
    template = _NOTICES.get(q.get("notice", ""))
    named = next((u for u in found if u.id == q.get("user")), None)
    if template and named is not None and error is None:
        notice = template.format(name=named.username)
    return render(
        "admin_users.html",
        status,
        page="admin",
        users=found,
        notice=notice,
        error=error,
        generated=generated,
        **page_context(services, user),
    )


@router.get("/admin/users", name="admin-users")
async def users_page(request: Request, services: ServicesDep, user: ReadUser) -> Response:
    try:
        opened, had_cookie = take_flash(services, request, user, "password")
        generated = None
        if opened is not None:
            found = {u.id: u for u in await users.list_users(services, user)}
            if opened.ref in found:
                password = opened.secret[:GENERATED_LENGTH]
                generated = {"username": found[opened.ref].username, "password": password}
        response = await _page(request, services, user, generated=generated)
    except Forbidden as exc:
        return admins_only(services, user, exc)
    if had_cookie:  # shown once
        response.delete_cookie(flash.COOKIE_NAMES["password"], path=flash.COOKIE_PATHS["password"])
    return response


def _back(notice: str, user_id: str) -> RedirectResponse:
    query = urlencode({"notice": notice, "user": user_id})
    return RedirectResponse(f"/admin/users?{query}#user-{user_id}", status_code=303)


async def _refused(
    request: Request, services: Services, user: Principal, exc: AdminError | AuthError
) -> Response:
    if isinstance(exc, Forbidden):
        return admins_only(services, user, exc)
    return await _page(request, services, user, exc.status, error=exc.message)


@router.post("/admin/users/{user_id}/access")
async def change_access(
    user_id: UserId, request: Request, services: ServicesDep, user: ReadUser
) -> Response:
    """One button: ``disabled`` or ``is_admin`` set to ``true`` or ``false``."""
    form = await read_form(request)
    change = next(
        ((field, form_value(form, field)) for field in ("disabled", "is_admin") if field in form),
        None,
    )
    try:
        if change is None or change not in _CHANGES:
            raise InvalidAccountInput("send disabled=true|false or is_admin=true|false")
        field, value = change
        await users.update_user(services, user, user_id, **{field: value == "true"})
    except (AdminError, AuthError) as exc:
        return await _refused(request, services, user, exc)
    return _back(_CHANGES[change], user_id)


@router.post("/admin/users/{user_id}/password")
async def reset_password(
    user_id: UserId, request: Request, services: ServicesDep, user: ReadUser
) -> Response:
    """Field ``password``: the new password, or empty to generate one (shown once)."""
    form = await read_form(request)
    chosen = form_value(form, "password")
    keep = keeper(services)
    seed = keep.new_seed()
    password = chosen or _generated(keep, seed)
    try:
        await users.reset_password(services, user, user_id, password)
    except (AdminError, AuthError) as exc:
        return await _refused(request, services, user, exc)
    response = _back("password", user_id)
    if not chosen:
        sid = sessions.current_session_id(user.session_cookie)
        if sid is not None:
            sealed = keep.seal("password", sid, user_id, seed)
            set_flash(response, services, request, "password", sealed)
    return response
