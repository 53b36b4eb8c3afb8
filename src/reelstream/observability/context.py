"""What the current request or job is, for every log line written while it runs.

One ``ContextVar`` holds the fields bound now (``request_id``; in a worker also ``job_id``,
``kind`` and ``video_id``). The log formatters (``reelstream.observability.logging``) read it
when a record is formatted: logging handlers run in the caller's task, so each line gets the
fields of the request or job that wrote it, and a task started while a request runs inherits
them (asyncio copies the context). Nothing else: no reelstream import, so the queue, the HTTP
kit and the workers can all use it.

A request id is what a client or the edge sent in ``X-Request-Id`` when well formed
(``REQUEST_ID_RE``: 8-64 of ``[A-Za-z0-9_-]``, so a log line cannot be forged or bloated with
it), else a new one (32 hex digits, the shape of nginx's ``$request_id``).
"""

from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token

LogValue = str | int
Fields = Mapping[str, LogValue]

REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_KEY = "request_id"
"""The field name in log lines and in a job's payload."""
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_REQUEST_ID_RE_BYTES = re.compile(rb"[A-Za-z0-9_-]{8,64}")

_EMPTY: Fields = {}
_fields: ContextVar[Fields] = ContextVar("reelstream_log_fields", default=_EMPTY)


def new_request_id() -> str:
    """A fresh id: 32 hex digits, like nginx's ``$request_id``. From ``random``, not the OS:
    an id names a request in the logs and guards nothing, and this is on the segment path
    (a third of the cost of ``os.urandom``)."""
    return f"{random.getrandbits(128):032x}"


def valid_request_id(value: object) -> str | None:
    """``value`` when it is a well-formed request id, else None."""
    if isinstance(value, str) and REQUEST_ID_RE.fullmatch(value):
        return value
    return None


def request_id_from_header(raw: bytes | None) -> bytes:
    """The id a request carries (its raw ``X-Request-Id`` when well formed) or a new one."""
    if raw is not None and _REQUEST_ID_RE_BYTES.fullmatch(raw):
        return raw
    return new_request_id().encode()


def current_fields() -> Fields:
    """The fields bound now (empty outside a request or job)."""
    return _fields.get()


def current_request_id() -> str | None:
    value = _fields.get().get(REQUEST_ID_KEY)
    return value if isinstance(value, str) else None


def bind_request_id(request_id: str) -> Token[Fields]:
    """Start a request's context (its only field: the id); ``unbind`` ends it. For the HTTP
    middleware, which must stay cheap: no merge, no context manager."""
    return _fields.set({REQUEST_ID_KEY: request_id})


def unbind(token: Token[Fields]) -> None:
    _fields.reset(token)


@contextlib.contextmanager
def bound(**fields: LogValue | None) -> Iterator[None]:
    """Add ``fields`` (None values skipped) to the log lines written inside the block."""
    added = {k: v for k, v in fields.items() if v is not None}
    token = _fields.set({**_fields.get(), **added})
    try:
        yield
    finally:
        _fields.reset(token)
