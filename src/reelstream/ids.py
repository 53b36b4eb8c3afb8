"""Identifiers: random, URL-safe, validated before they ever touch a path or a query."""

from __future__ import annotations

import re
import secrets

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ID_LENGTH = 16
_ID_RE = re.compile(r"\A[A-Za-z0-9]{16}\Z")
_REV_RE = re.compile(r"\A[a-z0-9]{12}\Z")


def new_id() -> str:
    """A 16-character base62 id (~95 bits of randomness) for videos and uploads."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(ID_LENGTH))


def new_rev() -> str:
    """A 12-character lowercase id naming one transcode attempt's output folder."""
    return secrets.token_hex(6)


def is_valid_id(value: str) -> bool:
    return bool(_ID_RE.fullmatch(value))


def is_valid_rev(value: str) -> bool:
    return bool(_REV_RE.fullmatch(value))
