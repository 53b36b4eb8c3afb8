"""What the sign-in page says above its form, besides an error: why the visitor was sent there
(``reason``: from the page in ``next``), that this server has no account yet (``no_users``:
how the first admin is made), and that sign-in cannot work over this plain-http address
(``plain_http``: ``reelstream.auth.onboarding``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from reelstream.auth.accounts import count_users
from reelstream.auth.onboarding import FIRST_ADMIN_COMMAND, PLAIN_HTTP_SIGN_IN, plain_http_sign_in

if TYPE_CHECKING:
    from reelstream.services import Services

# the page a signed-out visitor asked for (``next``, a local path) -> why signing in helps;
# a page and everything under it
_REASONS: tuple[tuple[str, str], ...] = (
    ("/upload", "Sign in to upload videos."),
    ("/me", "Sign in to see your videos."),
    ("/studio", "Sign in to see your videos."),
    ("/account", "Sign in to see your account."),
    ("/admin", "Sign in as an administrator to open the admin pages."),
    ("/watch", "Sign in to watch this video."),
)


def sign_in_reason(next_path: str) -> str | None:
    """Why the visitor was sent to sign in, from the page they asked for (None: no reason
    worth saying, e.g. they clicked "Sign in" themselves)."""
    path = next_path.split("?", 1)[0]
    for prefix, reason in _REASONS:
        if path == prefix or path.startswith(prefix + "/"):
            return reason
    return None


def plain_http(services: Services, request: Request) -> bool:
    """Whether a browser on this request cannot keep the session cookie (plain http in
    production on a non-loopback address)."""
    host = request.headers.get("host") or request.url.netloc
    return plain_http_sign_in(services.settings.is_development, request.url.scheme, host)


def sent_from_plain_http(request: Request) -> bool:
    """Whether the browser says the form it posts was on a plain-http page (``Origin``):
    then the cookie would be dropped. No ``Origin`` (a script) or an https one (a proxy
    that is not trusted to say so) is let through: the cookie may well work there."""
    return (request.headers.get("origin") or "").strip().lower().startswith("http://")


async def sign_in_notes(services: Services, request: Request, next_path: str) -> dict[str, str]:
    """The template fields of the notes above the sign-in form (those that apply)."""
    async with services.db.read(primary=True) as s:
        no_users = await count_users(s) == 0
    notes = {
        "reason": sign_in_reason(next_path),
        "plain_http_note": PLAIN_HTTP_SIGN_IN if plain_http(services, request) else None,
        "first_admin_command": FIRST_ADMIN_COMMAND if no_users else None,
    }
    return {name: text for name, text in notes.items() if text is not None}
