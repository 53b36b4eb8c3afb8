"""Stateless signed playback tokens.

A token is ``{kid}.{expires}.{signature}`` where ``signature`` is the unpadded base64url
HMAC-SHA256, under the key named ``kid``, of ``"{video_id}.{expires}"``. It can be verified with
the key alone (no database), so an edge can check it. Several keys may be configured: new tokens
use the active one, and any configured key still verifies, which lets keys rotate without
downtime (keep the old key until its tokens have expired).

The token travels as a path segment (``/media/{video_id}/{rev}/{token}/master.m3u8``), so every
relative URI inside the playlists carries it too and any HLS client can play the URL as it is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from reelstream.auth.errors import TokenExpired, TokenInvalid, TokenMalformed, TokenMissing

_TOKEN_RE = re.compile(r"\A([A-Za-z0-9]{1,32})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})\Z")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class TokenClaims:
    video_id: str
    expires: int
    kid: str


class TokenSigner:
    def __init__(self, keys: Mapping[str, str], active_kid: str) -> None:
        if active_kid not in keys:
            raise ValueError(f"active key id {active_kid!r} is not configured")
        self._keys = {kid: key.encode() for kid, key in keys.items()}
        self.active_kid = active_kid

    def _sig(self, kid: str, video_id: str, expires: int) -> str:
        mac = hmac.new(self._keys[kid], f"{video_id}.{expires}".encode(), hashlib.sha256)
        return _b64(mac.digest())

    def sign(self, video_id: str, expires: int) -> str:
        return f"{self.active_kid}.{expires}.{self._sig(self.active_kid, video_id, expires)}"

    def verify(self, token: str | None, video_id: str, now: float | None = None) -> TokenClaims:
        """Return the claims of a valid token for ``video_id`` or raise a ``TokenError``."""
        if not token:
            raise TokenMissing("a signed playback token is required")
        m = _TOKEN_RE.fullmatch(token)
        if not m:
            raise TokenMalformed("the playback token is malformed")
        kid, exp_s, sig = m.groups()
        if kid not in self._keys:
            raise TokenInvalid("the playback token was signed with an unknown key")
        expires = int(exp_s)
        if not hmac.compare_digest(sig, self._sig(kid, video_id, expires)):
            raise TokenInvalid("the playback token is not valid for this video")
        if expires < (time.time() if now is None else now):
            raise TokenExpired("the playback token has expired")
        return TokenClaims(video_id=video_id, expires=expires, kid=kid)
