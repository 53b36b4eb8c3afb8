"""One FastAPI dependency per rate-limit category.

Keys: ``login`` counts per username (lower-cased), ``login_ip``, ``signup``, ``reads`` and
``beacons`` per client IP, ``upload``, ``tokens`` and ``writes`` per account: the
authenticated user when there is one, else the IP. The dependencies resolve the caller with
``reelstream.auth.deps`` (cached per request), so an account is known before the route runs.
A refused request raises ``RateLimited`` (429, ``Retry-After`` and ``RateLimit-*`` headers);
an allowed one leaves its ``RateLimit-*`` headers for ``RateLimitHeaders`` to add to the
response.

The form pages (sign-in, sign-up, access tokens) call these functions in their route instead
of declaring them as dependencies, so that a refusal re-renders the form with
``RateLimited.sentence`` (an HTML 429 with the same headers) rather than the JSON error.
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelstream.auth.deps import SAFE_METHODS, form_value, read_form, resolve_principal
from reelstream.http.deps import ServicesDep
from reelstream.ratelimit.errors import RateLimited
from reelstream.ratelimit.limiter import Category, RateLimiter, Verdict

STATE_KEY = "ratelimit_headers"

REASONS: dict[Category, str] = {
    "login": "too many sign-in attempts for this username",
    "login_ip": "too many sign-in attempts from this address",
    "signup": "too many sign-ups from this address",
    "upload": "too many uploads created",
    "tokens": "too many access tokens created",
    "writes": "too many changes",
    "reads": "too many requests from this address",
    "beacons": "too many player beacons from this address",
}


def client_ip(request: Request) -> str:
    """The client's address as the server sees it (uvicorn applies ``X-Forwarded-For`` from
    the proxies in ``FORWARDED_ALLOW_IPS``, 127.0.0.1 by default)."""
    return request.client.host if request.client else "unknown"


def _limiter(request: Request) -> RateLimiter | None:
    limiter: RateLimiter | None = getattr(request.app.state, "ratelimiter", None)
    return limiter


async def enforce(request: Request, category: Category, key: str) -> None:
    limiter = _limiter(request)
    if limiter is None:
        return
    verdict = await limiter.hit(category, key)
    if verdict is None:
        return
    _remember(request, verdict)
    if not verdict.allowed:
        raise refusal(category, verdict)


def refusal(category: Category, verdict: Verdict) -> RateLimited:
    """The error of a refused ``verdict``."""
    headers = verdict.headers()
    return RateLimited(
        REASONS[category],
        limit=verdict.limit,
        retry_after_s=int(headers["Retry-After"]),
        headers=headers,
    )


def _remember(request: Request, verdict: Verdict) -> None:
    """Keep the most restrictive verdict of the request for the response headers."""
    previous: Verdict | None = getattr(request.state, STATE_KEY, None)
    if previous is None or verdict.remaining < previous.remaining:
        setattr(request.state, STATE_KEY, verdict)


async def _account_key(request: Request, services: ServicesDep) -> str:
    principal = await resolve_principal(request, services)
    return f"user:{principal.id}" if principal is not None else f"ip:{client_ip(request)}"


async def limit_login(request: Request) -> None:
    """``POST /login``: per client IP and per username."""
    await enforce(request, "login_ip", client_ip(request))
    username = form_value(await read_form(request), "username").strip().lower()
    if username:
        await enforce(request, "login", username)


async def limit_password_change(request: Request, username: str) -> None:
    """A password change (API or account page): a guess at the current password counts like a
    sign-in attempt, per client IP and per username."""
    await enforce(request, "login_ip", client_ip(request))
    await enforce(request, "login", username.strip().lower())


async def limit_signup(request: Request) -> None:
    """``POST /signup``: per client IP."""
    await enforce(request, "signup", client_ip(request))


async def limit_upload(request: Request, services: ServicesDep) -> None:
    """tus creation (``POST /api/v1/uploads``): per account."""
    await enforce(request, "upload", await _account_key(request, services))


async def limit_tokens(request: Request, services: ServicesDep) -> None:
    """Access-token creation (``POST /account/tokens``): per account."""
    await enforce(request, "tokens", await _account_key(request, services))


async def limit_writes(request: Request, services: ServicesDep) -> None:
    """An API change: per account."""
    await enforce(request, "writes", await _account_key(request, services))


async def limit_reads(request: Request) -> None:
    """An API read: per client IP."""
    await enforce(request, "reads", client_ip(request))


async def limit_beacons(request: Request) -> None:
    """The player's view and progress beacons: per client IP, signed in or not."""
    await enforce(request, "beacons", client_ip(request))


async def limit_api(request: Request) -> None:
    """For a whole router: ``reads`` for GET/HEAD/OPTIONS, ``writes`` otherwise. (One
    dependency, no sub-dependency: it runs on every API request.)"""
    if request.method in SAFE_METHODS:
        await limit_reads(request)
    else:
        await limit_writes(request, request.app.state.services)


class RateLimitHeaders:
    """ASGI middleware: adds the ``RateLimit-*`` headers of the request's verdict (if a
    limit applied) to the response, unless the response already has them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                verdict = scope.get("state", {}).get(STATE_KEY)
                if isinstance(verdict, Verdict):
                    headers = MutableHeaders(scope=message)
                    for name, value in verdict.headers().items():
                        if name.lower() not in headers:
                            headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
