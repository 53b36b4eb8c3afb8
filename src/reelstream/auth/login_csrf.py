"""Pre-session CSRF for the sign-in and sign-up forms (login CSRF).

Before anyone is signed in there is no session whose CSRF token a form could carry, so without
more a page on another site could auto-submit its own username and password to ``/login`` and
sign the victim into the attacker's account (whose uploads and history the victim then feeds).
The two forms therefore carry a token of their own, a signed double-submit pair:

* the GET of the form sets a short-lived cookie (``FORM_TTL_S``) holding a random value:
  ``HttpOnly``, ``SameSite=Strict``, path ``/``; named ``__Host-rs_form`` and ``Secure`` wherever
  the session cookie is ``Secure`` (``secure_cookies``: everything but development mode over
  plain http), else ``rs_form``, since browsers refuse a ``__Host-`` cookie without ``Secure``;
* the form embeds ``{issued}.{mac}``: the HMAC-SHA256, under a key derived from the active
  signing key, of the cookie's value and ``issued`` (unix seconds). It proves the form was
  issued by this server, for this cookie, less than ``FORM_TTL_S`` ago;
* the POST must bring both, matching and fresh (``FormExpired`` otherwise), and when the browser
  says where the form was submitted from, that must be this site (``FormFromElsewhere``):
  ``Sec-Fetch-Site`` must be ``same-origin`` (or ``none``); without it, an ``Origin`` header
  must name this host (the request's ``Host`` or ``public_base_url``'s). The origin check also
  stops a page on a sibling origin (another port of the same host, which shares cookies) that
  plants a cookie of its own with a pair it fetched itself.

API clients never use these forms (they send ``Authorization: Bearer``) and are unaffected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from reelstream.auth.errors import FormExpired, FormFromElsewhere

FORM_TTL_S = 3600
COOKIE_NAME = "rs_form"
SECURE_COOKIE_NAME = "__Host-rs_form"
_VALUE_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_TOKEN_RE = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{43})")
_SKEW_S = 60  # a token "issued" this far in the future still counts (clocks of several apis)


def secure_cookies(is_development: bool, scheme: str) -> bool:
    """Whether cookies get ``Secure``: always, except development mode over plain http."""
    return not (is_development and scheme == "http")


def cookie_name(secure: bool) -> str:
    return SECURE_COOKIE_NAME if secure else COOKIE_NAME


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class FormIssue:
    """What to put in a form page: the cookie's value (``set_cookie``: whether the response
    must send it) and the form's token."""

    cookie: str
    token: str
    set_cookie: bool


class LoginFormGuard:
    """Issues and checks the pairs; one per app, keyed from the active signing key."""

    def __init__(self, signing_key: str, ttl_s: int = FORM_TTL_S) -> None:
        self._key = hmac.new(
            signing_key.encode(), b"reelstream login form", hashlib.sha256
        ).digest()
        self.ttl_s = ttl_s

    def _mac(self, cookie: str, issued: int) -> str:
        return _b64(hmac.new(self._key, f"{cookie}.{issued}".encode(), hashlib.sha256).digest())

    def issue(self, cookie: str | None, *, refresh: bool, now: float | None = None) -> FormIssue:
        """A token for the browser's cookie if it holds a well-formed one (so two open forms
        both work), else for a new cookie. ``refresh``: send the cookie again anyway (a GET of
        the form renews its lifetime)."""
        fresh = cookie is None or _VALUE_RE.fullmatch(cookie) is None
        value = secrets.token_urlsafe(32) if fresh or cookie is None else cookie
        issued = int(time.time() if now is None else now)
        return FormIssue(value, f"{issued}.{self._mac(value, issued)}", fresh or refresh)

    def verify(
        self, cookie: str | None, token: str | None, *, what: str, now: float | None = None
    ) -> None:
        """Raise ``FormExpired`` unless ``token`` was issued for ``cookie`` within the TTL;
        ``what`` names the form in the reason ("sign-in")."""
        expired = FormExpired(f"your {what} form expired, please try again")
        if not cookie or not token or _VALUE_RE.fullmatch(cookie) is None:
            raise expired
        m = _TOKEN_RE.fullmatch(token)
        if m is None:
            raise expired
        issued = int(m.group(1))
        if not hmac.compare_digest(m.group(2), self._mac(cookie, issued)):
            raise expired
        age = (time.time() if now is None else now) - issued
        if age > self.ttl_s or age < -_SKEW_S:
            raise expired


def check_origin(headers: Mapping[str, str], public_base_url: str | None) -> None:
    """Raise ``FormFromElsewhere`` when the browser says the POST came from another origin.

    Clients that send neither header (scripts, old browsers) pass: the token pair decides."""
    refused = FormFromElsewhere(
        "this form was sent from another site; please sign in from this page"
    )
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site.strip().lower() not in ("same-origin", "none"):
            raise refused
        return
    origin = headers.get("origin")
    if origin is None:
        return
    netloc = urlsplit(origin.strip()).netloc.lower() if origin.strip() != "null" else ""
    allowed = {headers.get("host", "").strip().lower()}
    if public_base_url:
        allowed.add(urlsplit(public_base_url).netloc.lower())
    if not netloc or netloc not in allowed:
        raise refused
