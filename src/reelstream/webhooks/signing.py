"""Signing deliveries: HMAC-SHA256 over ``{id}.{timestamp}.{body}`` with the endpoint secret.

Headers of every delivery::

    Webhook-Id: evt_...            the event id (the idempotency key, the same on every retry)
    Webhook-Timestamp: 1795000000  Unix seconds when this attempt was signed
    Webhook-Signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>

The key is the whole secret string (``whsec_...``) as UTF-8 bytes. ``verify`` is what a
receiver does (docs/webhooks.md): recompute, compare in constant time, and refuse timestamps
more than ``tolerance_s`` away from now, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

SCHEME = "v1"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
DEFAULT_TOLERANCE_S = 300


def new_secret() -> str:
    """A per-endpoint random signing secret (256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``Webhook-Signature`` value of one delivery attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return f"{SCHEME},{base64.b64encode(digest).decode()}"


def sign_headers(secret: str, msg_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": signature(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: dict[str, str],
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True if ``body`` with these (lower- or mixed-case) headers was signed with ``secret``
    within ``tolerance_s`` of ``now``. The signature header may list several space-separated
    signatures; one valid ``v1`` signature is enough."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    given = lower.get("webhook-signature", "")
    if not msg_id or not stamp.isdigit() or not given:
        return False
    timestamp = int(stamp)
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, msg_id, timestamp, body)
    return any(hmac.compare_digest(expected, sig) for sig in given.split())
