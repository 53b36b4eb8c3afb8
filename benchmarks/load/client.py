"""One timed request: takes a unit of the request budget, records a ``Sample`` and returns the
response (or None when it raised). HTTP clients are built here, one per actor kind, each with a
bounded connection pool."""

from __future__ import annotations

from typing import Any

import httpx

from benchmarks.load.recorder import Recorder, Sample


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
    try:
        r = await http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        recorder.record(Sample(t, kind, recorder.now() - t, 0, error=type(exc).__name__))
        return None
    cache = r.headers.get("x-cache-status")
    recorder.record(Sample(t, kind, recorder.now() - t, r.status_code, cache=cache))
    return r
