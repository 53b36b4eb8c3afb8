"""Admission control: a bounded number of requests in flight per process, never a queue.

Under a traffic spike a server that accepts everything answers everything late: requests pile
up in its event loop, latency grows for all of them, clients time out and retry. This
middleware keeps at most a fixed number of requests running per process and answers the
next one at once with ``503`` + ``Retry-After: 1`` and the project's error body
``{"error": {"code": "overloaded", "message": ...}}`` (JSON for every path, pages included:
it is a signal to back off, not a page to read). The admitted requests keep their latency.

Requests fall into three pools, each with its own bound (0: no bound), because they differ:

* ``uploads``: tus ``PATCH`` (``/api/v1/uploads/{id}``): long-lived (a part streams for
  seconds or minutes), so counting them with the API would let a few dozen uploads shed every
  read; ``max_inflight_uploads``;
* ``media``: ``/media/...`` on the ``all`` and ``origin`` roles: short, cheap sends, behind the
  edge whose connections to an origin set how many arrive at once; ``max_inflight_media``;
* ``api``: everything else (API, pages, static files); ``max_inflight``.

``/healthz``, ``/readyz`` and ``/metrics`` are never counted nor shed: an overloaded process
must still say it is alive and show why it sheds.

Written by hand, as a pure ASGI middleware: it runs before routing, so a shed request costs
one path check and one pre-encoded response (no framework work), and a counter that is
decremented in ``finally`` cannot leak on an error or a cancelled request (client gone).
Counters are plain integers: one event loop per process, no ``await`` between the check and
the increment. Metrics: ``reelstream_http_inflight{pool}``, ``reelstream_http_shed_total{pool}``
and ``reelstream_http_inflight_limit{pool}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from reelstream.observability.metrics import multiprocess

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge

    from reelstream.config import Settings
    from reelstream.observability.metrics import Metrics

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
UPLOADS_PREFIX = "/api/v1/uploads/"
MEDIA_PREFIX = "/media/"
RETRY_AFTER_S = 1

_BODY = json.dumps(
    {
        "error": {
            "code": "overloaded",
            "message": "the server is at capacity; retry in a moment",
        }
    }
).encode()
_START = {
    "type": "http.response.start",
    "status": 503,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_BODY)).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
        (b"cache-control", b"no-store"),
    ],
}
_END = {"type": "http.response.body", "body": _BODY}


@dataclass
class Pool:
    """One bound: ``limit`` requests at once (0: unbounded); ``inflight`` now; ``shed`` so far."""

    name: str
    limit: int
    inflight: int = 0
    shed: int = 0
    gauge: Gauge | None = field(default=None, repr=False)
    shed_counter: Counter | None = field(default=None, repr=False)

    def count(self) -> float:
        return self.inflight


def pools_from_settings(settings: Settings) -> dict[str, int]:
    return {
        "api": settings.max_inflight,
        "media": settings.max_inflight_media,
        "uploads": settings.max_inflight_uploads,
    }


class AdmissionMiddleware:
    """Shed what exceeds each pool's bound with an immediate 503 (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, *, limits: dict[str, int], metrics: Metrics | None = None
    ) -> None:
        self.app = app
        self.pools = {name: Pool(name, limit) for name, limit in limits.items()}
        for name in ("api", "media", "uploads"):
            self.pools.setdefault(name, Pool(name, 0))
        if metrics is not None:
            shared = multiprocess()
            for pool in self.pools.values():
                gauge = metrics.http_inflight.labels(pool.name)
                if shared:  # the value lives in a file other processes' scrapes read
                    pool.gauge = gauge
                else:  # read at scrape time: nothing to update per request (~1.5 us saved)
                    gauge.set_function(pool.count)
                pool.shed_counter = metrics.http_shed.labels(pool.name)
                metrics.http_inflight_limit.labels(pool.name).set(pool.limit)

    def pool_for(self, scope: Scope) -> Pool:
        path: str = scope["path"]
        if path.startswith(MEDIA_PREFIX):
            return self.pools["media"]
        if scope["method"] == "PATCH" and path.startswith(UPLOADS_PREFIX):
            return self.pools["uploads"]
        return self.pools["api"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        pool = self.pool_for(scope)
        if pool.limit and pool.inflight >= pool.limit:
            pool.shed += 1
            if pool.shed_counter is not None:
                pool.shed_counter.inc()
            await send(_START)
            await send(_END)
            return
        pool.inflight += 1
        if pool.gauge is not None:
            pool.gauge.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            pool.inflight -= 1
            if pool.gauge is not None:
                pool.gauge.dec()
