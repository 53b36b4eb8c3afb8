"""What a new operator must be told: how to make the first account, which mode the server runs
in, and why browsers cannot sign in over plain http.

* **No account yet.** Outside development mode nobody is created at start
  (``reelstream.auth.bootstrap``); the start-up log and the sign-in page say how to make the
  first admin (``FIRST_ADMIN_COMMAND``).
* **Plain http in production.** The session cookie is ``Secure`` everywhere but in development
  mode over plain http (``reelstream.auth.login_csrf.secure_cookies``). A browser refuses a
  ``Secure`` cookie from a plain-http page, except on a loopback name (``localhost``,
  ``127.0.0.1``, ``[::1]``: browsers count them as secure), so a production server reached
  over plain http on any other address would loop back to the sign-in form without a word.
  Its sign-in page says why instead (``plain_http_sign_in``), and a sign-in sent from such a
  page is refused with that reason rather than answered with a cookie the browser drops. The
  cookie stays ``Secure`` (no setting weakens it: docs/security.md). "https" is the request's
  scheme as uvicorn sets it: ``X-Forwarded-Proto`` counts only from the proxies in
  ``forwarded_allow_ips`` (loopback by default).
* **Start-up advice** (``startup_advice``): the mode and, in production, the settings still
  missing for browsers (an https ``public_base_url`` behind a TLS proxy), with examples.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from reelstream.config import Settings

FIRST_ADMIN_COMMAND = "reelstream users create NAME --admin --password-stdin"
PLAIN_HTTP_SIGN_IN = (
    "This server is reached over plain http; sign-in needs https (set "
    "REELSTREAM_PUBLIC_BASE_URL=https://… behind a TLS proxy) — or run in development mode."
)


def is_loopback_name(host: str) -> bool:
    """Whether a host name or address (a ``Host`` header's, port allowed) is this machine's
    own: browsers treat such origins as secure even over plain http."""
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:8000
        name = name[1 : name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:  # host:port
        name = name.split(":", 1)[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def plain_http_sign_in(is_development: bool, scheme: str, host: str) -> bool:
    """Whether a browser on this request cannot keep the session cookie: production mode
    (the cookie is ``Secure``) over plain http on an address that is not a loopback one."""
    return not is_development and scheme == "http" and not is_loopback_name(host)


def first_admin_hint(settings: Settings) -> str:
    """The start-up log line for a server without any account."""
    where = f" --data-dir {settings.data_dir}" if settings.database_url is None else ""
    return (
        "no account exists yet: create the first admin on this machine with "
        f"`{FIRST_ADMIN_COMMAND}{where}` (type the password on stdin; it prints the admin's "
        "access token, and the password signs in on /login), or, to try reelstream out, "
        "restart with REELSTREAM_ENV=development: it creates an admin and logs its password"
    )


def startup_advice(settings: Settings, *, env_was_set: bool) -> list[str]:
    """What the start-up log should tell the operator, one line each (may be none).

    ``env_was_set``: whether ``REELSTREAM_ENV`` was given; if not, say which mode that means."""
    advice: list[str] = []
    if not env_was_set:  # then it is production, the default
        advice.append(
            "running in production mode (REELSTREAM_ENV is not set; production is the "
            "default): no admin is created, sign-up is off and browsers sign in over https "
            "only; to try reelstream on this machine, run REELSTREAM_ENV=development "
            "reelstream serve"
        )
    if settings.is_development:
        return advice
    base = settings.public_base_url  # unset: create_app says so (loopback only) or refuses
    if (
        base is not None
        and urlsplit(base).scheme == "http"
        and not is_loopback_name(urlsplit(base).netloc)
    ):
        advice.append(
            f"REELSTREAM_PUBLIC_BASE_URL is {base}, plain http: browsers drop the Secure "
            "session cookie there, so nobody can sign in; serve it over https behind a TLS "
            "proxy that sends X-Forwarded-Proto: https (REELSTREAM_PUBLIC_BASE_URL="
            "https://videos.example.com, REELSTREAM_FORWARDED_ALLOW_IPS=<the proxy's "
            "address>), or use REELSTREAM_ENV=development on a network you trust"
        )
    return advice
