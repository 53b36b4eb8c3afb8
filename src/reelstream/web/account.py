"""Account pages: sign-up, sign-in and sign-out (the account page itself, ``/account``, is
``reelstream.web.account_page``).

Sign-in sets the session cookie ``rs_session``: ``HttpOnly``, ``SameSite=Lax``, path ``/``,
and ``Secure`` unless the server runs in development mode and the request came over plain
http. Where a browser would drop that cookie (production over plain http on a non-loopback
address) the sign-in page says so, and a form posted from such a page is refused with the
reason (``HttpsRequired``) instead of looping back silently. The sign-in page also says why
the visitor was sent there and, on a server without any account, how to make the first admin
(``reelstream.web.signin_notes``). Every form that changes something carries the session's
CSRF token (``csrf_token``), checked by ``reelstream.auth.deps``. Sign-up exists only when
``settings.allow_signup``.

The sign-in and sign-up forms, sent before there is a session, carry a pre-session token
instead (``reelstream.auth.login_csrf``): their GET sets the ``rs_form`` cookie and embeds the
matching token; a POST without a matching, fresh pair, or sent from another site, gets the form
again with status 403 and the reason, and signs nobody in.

Rate limits (docs/limits.md): the form routes call ``reelstream.ratelimit.deps`` themselves, so
a refusal is one more reason to show the form again: the sign-in, sign-up or account page with
the reason, status 429 and the ``Retry-After`` and ``RateLimit-*`` headers, the same way as a
wrong password (401) or a taken username (409).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from reelstream.auth import accounts, login_csrf, sessions
from reelstream.auth.deps import CurrentUser, Principal, form_value, read_form
from reelstream.auth.errors import AuthError, FormExpired, FormFromElsewhere, HttpsRequired
from reelstream.auth.onboarding import PLAIN_HTTP_SIGN_IN
from reelstream.db.models import User
from reelstream.http.deps import ServicesDep
from reelstream.ratelimit.deps import limit_login, limit_signup
from reelstream.ratelimit.errors import RateLimited
from reelstream.web import signin_notes
from reelstream.web.render import page_context, render
from reelstream.web.signin_notes import sign_in_notes

if TYPE_CHECKING:
    from reelstream.services import Services

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _safe_next(target: str | None) -> str:
    """Only local paths: never an absolute or protocol-relative URL (open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


async def _start_session(services: Services, request: Request, user: User, target: str) -> Response:
    async with services.db.transaction() as s:
        await sessions.purge_expired(s)
        new = await sessions.create_session(s, user.id, services.settings.session_ttl_s)
    response = RedirectResponse(_safe_next(target), status_code=303)
    secure = _secure(services, request)
    response.set_cookie(
        sessions.COOKIE_NAME,
        new.cookie,
        max_age=services.settings.session_ttl_s,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    return response


def _refusal(exc: AuthError | RateLimited) -> tuple[int, str, dict[str, str]]:
    """Why a form was refused: the status, the sentence the page shows and the headers."""
    if isinstance(exc, RateLimited):
        return exc.status, exc.sentence, exc.headers
    return exc.status, exc.message, {}


def _secure(services: Services, request: Request) -> bool:
    return login_csrf.secure_cookies(services.settings.is_development, request.url.scheme)


def _guard(services: Services) -> login_csrf.LoginFormGuard:
    key = services.settings.signing_keys[services.settings.signing_key_id].get_secret_value()
    return login_csrf.LoginFormGuard(key)


def _form_page(
    services: Services,
    request: Request,
    page: str,
    status: int = 200,
    *,
    user: Principal | None = None,
    cookie: str = "refresh",
    fields: dict[str, str],
) -> Response:
    """The sign-in or sign-up form with its pre-session token for the browser's cookie.
    ``cookie``: ``"refresh"`` sends it again (a GET renews its lifetime), ``"keep"`` sends it
    only if the browser had none, ``"new"`` replaces it (after a refused pair)."""
    secure = _secure(services, request)
    name = login_csrf.cookie_name(secure)
    current = None if cookie == "new" else request.cookies.get(name)
    issued = _guard(services).issue(current, refresh=cookie != "keep")
    response = render(
        f"{page}.html",
        status,
        page=page,
        form_token=issued.token,
        **fields,
        **page_context(services, user),
    )
    if issued.set_cookie:
        response.set_cookie(
            name,
            issued.cookie,
            max_age=login_csrf.FORM_TTL_S,
            path="/",
            secure=secure,
            httponly=True,
            samesite="strict",
        )
    return response


def _check_form(
    services: Services, request: Request, form: dict[str, list[str]], what: str
) -> None:
    """Raise ``FormFromElsewhere`` or ``FormExpired`` unless the POST is this site's form."""
    login_csrf.check_origin(request.headers, services.settings.public_base_url)
    name = login_csrf.cookie_name(_secure(services, request))
    token = form_value(form, "csrf_token") or None
    _guard(services).verify(request.cookies.get(name), token, what=what)


def _check_transport(services: Services, request: Request) -> None:
    """Raise ``HttpsRequired`` when the form was posted from a plain-http page whose browser
    would drop the ``Secure`` session cookie (``reelstream.auth.onboarding``): say so, rather
    than sign in to a session the browser never keeps and loop back to this form."""
    if signin_notes.plain_http(services, request) and signin_notes.sent_from_plain_http(request):
        raise HttpsRequired(PLAIN_HTTP_SIGN_IN)


def _form_again(
    services: Services,
    request: Request,
    page: str,
    exc: AuthError | RateLimited,
    next: str,
    **values: str,
) -> Response:
    """The sign-in or sign-up form again, filled in, with the reason it was refused (and a
    new pre-session cookie when that was the reason)."""
    status, error, headers = _refusal(exc)
    response = _form_page(
        services,
        request,
        page,
        status,
        cookie="new" if isinstance(exc, FormExpired | FormFromElsewhere) else "keep",
        fields={"error": error, "next": _safe_next(next), **values},
    )
    response.headers.update(headers)
    return response


# -- sign-up -----------------------------------------------------------------------------------


def _signup_closed(services: Services, user: Principal | None) -> Response:
    return render(
        "error.html",
        403,
        heading="Sign-up is disabled",
        message="This server does not accept new accounts. Ask an administrator for one.",
        **page_context(services, user),
    )


@router.get("/signup", name="signup")
async def signup_page(
    request: Request, services: ServicesDep, user: CurrentUser, next: str = "/"
) -> Response:
    if not services.settings.allow_signup:
        return _signup_closed(services, user)
    return _form_page(services, request, "signup", user=user, fields={"next": _safe_next(next)})


@router.post("/signup")
async def signup(request: Request, services: ServicesDep) -> Response:
    if not services.settings.allow_signup:
        return _signup_closed(services, None)
    try:
        form = await read_form(request)
    except AuthError as exc:  # over 64 KiB: the form again, empty
        return _form_again(services, request, "signup", exc, "/")
    username, password = form_value(form, "username"), form_value(form, "password")
    email, next = form_value(form, "email"), form_value(form, "next", "/")
    try:
        _check_transport(services, request)  # first: the form's own cookie is dropped too
        _check_form(services, request, form, "sign-up")
        await limit_signup(request)
        async with services.db.transaction() as s:
            user = await accounts.create_user(s, username, password, email=email or None)
    except (AuthError, RateLimited) as exc:
        return _form_again(services, request, "signup", exc, next, username=username, email=email)
    return await _start_session(services, request, user, next)


# -- sign-in / sign-out ------------------------------------------------------------------------


@router.get("/login", name="login")
async def login_page(
    request: Request, services: ServicesDep, user: CurrentUser, next: str = "/"
) -> Response:
    target = _safe_next(next)
    notes = await sign_in_notes(services, request, target)  # why, first admin, plain http
    return _form_page(services, request, "login", user=user, fields={"next": target, **notes})


@router.post("/login")
async def login(request: Request, services: ServicesDep) -> Response:
    try:
        form = await read_form(request)
    except AuthError as exc:  # over 64 KiB: the form again, empty
        return _form_again(services, request, "login", exc, "/")
    username, password = form_value(form, "username"), form_value(form, "password")
    next = form_value(form, "next", "/")
    try:
        _check_transport(services, request)  # first: the form's own cookie is dropped too
        _check_form(services, request, form, "sign-in")
        await limit_login(request)  # every attempt counts, before the password is checked
        async with services.db.transaction() as s:
            user = await accounts.authenticate(s, username, password)
    except (AuthError, RateLimited) as exc:
        return _form_again(services, request, "login", exc, next, username=username)
    return await _start_session(services, request, user, next)


@router.post("/logout")
async def logout(services: ServicesDep, user: CurrentUser) -> Response:
    """Ends the session (the form carries the CSRF token, checked before this runs)."""
    response = RedirectResponse("/", status_code=303)
    if user is not None and user.session_cookie is not None:
        async with services.db.transaction() as s:
            await sessions.end_session(s, user.session_cookie)
    response.delete_cookie(sessions.COOKIE_NAME, path="/")
    return response
