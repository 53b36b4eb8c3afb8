"""Samples the servers' Prometheus ``/metrics`` once a second (the edge has none).

Whatever is present is kept, missing metrics are fine: jobs by state (``reelstream_jobs``),
anything about the queue, in-flight requests, shed requests and workers (matched by name, so
metrics added later are picked up), and on the origins the requests to ``/media`` routes (the
origin fetches: behind the edge, one per cache miss).
"""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.load.recorder import Recorder, ServerSample

INTERVAL_S = 1.0
KEPT = ("queue", "inflight", "in_flight", "shed", "oldest", "worker", "utili")
MEDIA_FETCHES = "origin_media_requests"


def parse(text: str, *, origin: bool) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.endswith(("_created", "_bucket", "_limit")):  # _limit: a bound, not load
                continue
            if s.name == "reelstream_jobs" and "state" in s.labels:
                values[f"jobs.{s.labels['state']}"] = s.value
            elif origin and s.name == "reelstream_http_requests_total":
                if s.labels.get("route", "").startswith("/media"):
                    values[MEDIA_FETCHES] = values.get(MEDIA_FETCHES, 0.0) + s.value
            elif s.name.startswith("reelstream_") and any(k in s.name for k in KEPT):
                values[s.name] = values.get(s.name, 0.0) + s.value
    return values


async def sample_once(
    http: httpx.AsyncClient, recorder: Recorder, urls: list[str], origins: set[str]
) -> None:
    async def one(url: str) -> None:
        try:
            r = await http.get(url)
        except httpx.HTTPError:
            return
        if r.status_code == 200:
            values = parse(r.text, origin=url in origins)
            recorder.server.append(ServerSample(recorder.now(), url, values))

    await asyncio.gather(*(one(u) for u in urls))


async def run_sampler(
    http: httpx.AsyncClient,
    recorder: Recorder,
    urls: list[str],
    origin_urls: list[str],
    deadline: float,
) -> None:
    """Sample until ``deadline`` (one last sample then), bounded by it."""
    origins = set(origin_urls)
    while True:
        await sample_once(http, recorder, urls, origins)
        left = deadline - recorder.now()
        if left <= 0:
            return
        await asyncio.sleep(min(INTERVAL_S, left))
