"""One timed request: takes a unit of the request budget, records a ``Sample`` and returns the
response (or None when it raised); the sample notes a 5xx's ``Retry-After`` and a request that
hung past the client's timeout. HTTP clients are built here, one per actor kind, each with a
bounded connection pool.

An idempotent request whose reused keep-alive connection was closed before any byte of an
answer is sent again at once on a new connection, as browsers (and so hls.js) do unseen and
HTTP/1.1 allows (RFC 9112, 9.3.1): the server may close an idle connection at any moment (an
nginx reload closes its old workers' idle ones), and the request never reached it. httpx does
not, so the harness does it here and counts it (``Recorder.resent``), not as a failure."""

from __future__ import annotations

from typing import Any

import httpx

from benchmarks.load.recorder import Recorder, Sample

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
NO_ANSWER = "without sending a response"
"""httpcore's words for a connection closed before any byte of the answer."""


class BudgetSpent(Exception):
    """The run's ``--max-requests`` is used up: the actor stops."""


def http_client(max_connections: int, timeout_s: float, token: str | None) -> httpx.AsyncClient:
    headers = {"User-Agent": "reelstream-load/1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(
        headers=headers,
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        follow_redirects=False,
    )


async def timed(
    http: httpx.AsyncClient,
    recorder: Recorder,
    kind: str,
    method: str,
    url: str,
    *,
    scheduled: float | None = None,
    **kwargs: Any,
) -> httpx.Response | None:
    """Send one request; latency counts from ``scheduled`` when given (open-loop clients:
    no coordinated omission), else from the send."""
    if not recorder.take():
        raise BudgetSpent
    sent = recorder.now()
    t = sent if scheduled is None else scheduled
    limit = _timeout_s(http)
    try:
        try:
            r = await http.request(method, url, **kwargs)
        except httpx.RemoteProtocolError as exc:
            if method not in IDEMPOTENT or NO_ANSWER not in str(exc):
                raise
            recorder.resent += 1
            r = await http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        hung = isinstance(exc, httpx.TimeoutException) or recorder.now() - sent > limit
        recorder.record(Sample(t, kind, recorder.now() - t, 0, error=type(exc).__name__, hung=hung))
        return None
    recorder.record(
        Sample(
            t,
            kind,
            recorder.now() - t,
            r.status_code,
            cache=r.headers.get("x-cache-status"),
            retry_after="retry-after" in r.headers,
            hung=recorder.now() - sent > limit,
        )
    )
    return r


def _timeout_s(http: httpx.AsyncClient) -> float:
    """The longest a request of this client should take (its largest per-operation timeout:
    httpx bounds each read, not the whole request, so a trickle can outlast it unnoticed)."""
    t = http.timeout
    values = [v for v in (t.connect, t.read, t.write, t.pool) if v is not None]
    return max(values) if values else float("inf")
