"""Signed opaque cursors for keyset pagination, shared by the video and the admin job listings.

A cursor is ``{payload}.{kid}.{signature}``: ``payload`` is base64url (unpadded) of a JSON list,
the position of the last item shown followed by a short fingerprint of the listing's filters;
``signature`` is the unpadded base64url HMAC-SHA256 of the payload under a key derived from the
playback signing key ``kid`` (``settings.signing_keys``; the derivation separates the two uses,
so a cursor signature is never a playback token). A client therefore cannot forge a cursor or
change the position inside one: anything that does not verify, decode or parse is refused
(``InvalidCursor``, 400) before it reaches a query, and so is a valid cursor presented to a
listing with other filters. Every configured key verifies, the active one signs, so rotating
keys keeps cursors working like playback tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from reelstream.errors import ReelstreamError

T = TypeVar("T")

_DERIVATION = b"reelstream/pagination-cursor/v1"
_CURSOR_RE = re.compile(r"^([A-Za-z0-9_-]{1,4000})\.([A-Za-z0-9]{1,32})\.([A-Za-z0-9_-]{43})$")


class InvalidCursor(ReelstreamError):
    """A pagination cursor that was not issued by us (or for other filters)."""

    code = "invalid_cursor"
    status = 400


def filter_key(*filters: object) -> str:
    """A short fingerprint of a listing's filters: a cursor is valid for the same filters only."""
    return hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:12]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Cursors:
    """Issues and checks the cursors of every listing (one per process, in ``Services``)."""

    def __init__(self, keys: Mapping[str, str], active_kid: str) -> None:
        if active_kid not in keys:
            raise ValueError(f"active key id {active_kid!r} is not configured")
        self._keys = {
            kid: hmac.new(key.encode(), _DERIVATION, hashlib.sha256).digest()
            for kid, key in keys.items()
        }
        self.active_kid = active_kid

    def _sig(self, kid: str, payload: str) -> str:
        return _b64(hmac.new(self._keys[kid], payload.encode(), hashlib.sha256).digest())

    def encode(self, position: list[Any], filters: str) -> str:
        """A cursor for ``position`` (JSON values) in the listing whose ``filter_key`` is
        ``filters``."""
        payload = _b64(json.dumps([*position, filters]).encode())
        return f"{payload}.{self.active_kid}.{self._sig(self.active_kid, payload)}"

    def decode(
        self,
        cursor: str,
        filters: str,
        parse: Callable[[Any], tuple[T, object]],
        filter_names: str,
    ) -> T:
        """The position in ``cursor``. ``parse`` takes the decoded JSON and returns the
        position and the filter key it carries, raising ``ValueError``/``TypeError`` when it
        is not one we issue; ``filter_names`` names the filters in the refusal of a cursor of
        other filters."""
        m = _CURSOR_RE.fullmatch(cursor)
        if m is None:
            raise InvalidCursor("the cursor is not one this server issued")
        payload, kid, sig = m.groups()
        if kid not in self._keys or not hmac.compare_digest(sig, self._sig(kid, payload)):
            raise InvalidCursor("the cursor is not one this server issued (bad signature)")
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            position, key = parse(json.loads(raw))
        except (ValueError, TypeError, OverflowError, binascii.Error) as exc:
            raise InvalidCursor("the cursor is not one this server issued") from exc
        if key != filters:
            raise InvalidCursor(
                f"the cursor belongs to a listing with other filters ({filter_names}): "
                "start again without a cursor"
            )
        return position
