"""What the harness keeps of a server's /metrics: jobs by state, queue, in-flight, shed and
worker figures, and origin fetches; never a configured bound taken for load."""

from __future__ import annotations

from benchmarks.load.server import MEDIA_FETCHES, parse

TEXT = """\
# TYPE reelstream_jobs gauge
reelstream_jobs{state="queued"} 3.0
reelstream_jobs{state="running"} 1.0
# TYPE reelstream_http_inflight gauge
reelstream_http_inflight{pool="api"} 5.0
reelstream_http_inflight{pool="media"} 2.0
# TYPE reelstream_http_inflight_limit gauge
reelstream_http_inflight_limit{pool="api"} 64.0
reelstream_http_inflight_limit{pool="media"} 256.0
# TYPE reelstream_http_shed counter
reelstream_http_shed_total{pool="api"} 7.0
# TYPE reelstream_http_requests counter
reelstream_http_requests_total{method="GET",route="/media/{path}",status="200"} 11.0
reelstream_http_requests_total{method="GET",route="/api/v1/videos",status="200"} 40.0
"""


def test_it_keeps_load_figures_and_leaves_bounds_out() -> None:
    values = parse(TEXT, origin=True)
    assert values["jobs.queued"] == 3 and values["jobs.running"] == 1
    assert values["reelstream_http_inflight"] == 7  # summed over pools
    assert values["reelstream_http_shed_total"] == 7
    assert not any("limit" in k for k in values)
    assert values[MEDIA_FETCHES] == 11  # only /media requests, only on an origin
    assert MEDIA_FETCHES not in parse(TEXT, origin=False)
