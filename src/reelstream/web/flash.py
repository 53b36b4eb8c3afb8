"""Show a secret once after a redirect (POST-redirect-GET), without putting it in the URL or in
a cookie: a new access token on ``/account``, a generated password on ``/admin/users``.

The form's POST makes the secret from a random seed: ``secret = HMAC-SHA256(key, kind, seed)``,
``key`` derived from the active signing key. Its redirect sets a short-lived cookie (``TTL_S``)
``{ref}.{seed}.{expires}.{mac}``: what the secret belongs to (a token or user id), the seed, and
a MAC over those, the kind and the opaque id of the browser's session. The next GET opens the
cookie (the MAC, the same session, not expired), derives the secret again, shows it and deletes
the cookie, so a reload shows nothing and re-posts nothing. Whoever reads the cookie learns no
secret without the server's key; another session (or another browser) cannot open it.

Written by hand because the standard library has no authenticated encryption and the project
has no cryptography dependency: HMAC as a keyed derivation needs none, and any api process with
the same signing key opens the cookie (no server-side store shared between processes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Literal

Kind = Literal["token", "password"]
TTL_S = 120
COOKIE_NAMES: dict[Kind, str] = {"token": "rs_flash_token", "password": "rs_flash_password"}
COOKIE_PATHS: dict[Kind, str] = {"token": "/account", "password": "/admin"}
_COOKIE_RE = re.compile(
    r"([A-Za-z0-9]{1,64})\.([A-Za-z0-9_-]{43})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})"
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Opened:
    ref: str
    secret: str


class FlashKeeper:
    """Seals and opens the flash cookies of one app (keyed from the active signing key)."""

    def __init__(self, signing_key: str) -> None:
        self._key = hmac.new(signing_key.encode(), b"reelstream flash", hashlib.sha256).digest()

    def _mac(self, *parts: str) -> str:
        return _b64(hmac.new(self._key, "\0".join(parts).encode(), hashlib.sha256).digest())

    @staticmethod
    def new_seed() -> str:
        return _b64(secrets.token_bytes(32))

    def secret(self, kind: Kind, seed: str) -> str:
        """The secret of ``seed``: 43 URL-safe characters (256 bits)."""
        return self._mac("secret", kind, seed)

    def seal(
        self, kind: Kind, session_id: str, ref: str, seed: str, *, now: float | None = None
    ) -> str:
        expires = int((time.time() if now is None else now) + TTL_S)
        mac = self._mac("cookie", kind, session_id, ref, seed, str(expires))
        return f"{ref}.{seed}.{expires}.{mac}"

    def open(
        self, kind: Kind, session_id: str | None, value: str | None, *, now: float | None = None
    ) -> Opened | None:
        """The ref and secret of a cookie sealed for this kind and session, still fresh."""
        m = _COOKIE_RE.fullmatch(value or "")
        if m is None or session_id is None:
            return None
        ref, seed, expires, mac = m.groups()
        want = self._mac("cookie", kind, session_id, ref, seed, expires)
        if not hmac.compare_digest(mac, want):
            return None
        if int(expires) < (time.time() if now is None else now):
            return None
        return Opened(ref=ref, secret=self.secret(kind, seed))
