"""The edge's access log from a real nginx in front of a real origin: the request id (taken
from a well-formed client header, else made, sent upstream and returned), CMCD logged and kept
out of the cache key, and the mtail program (``reelstream.monitoring``) turning those very lines
into the ``reelstream_edge_*`` metrics."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reelstream.devcluster.process import free_port
from reelstream.monitoring import MTAIL_DIR
from tests.edge.conftest import MediaSite, OriginsFactory
from tests.fixtures.nginx import EdgeFactory
from tests.support import require_binary

CLIENT_ID = "client-Req_0001"
CMCD_SEG = "bl%3D0%2Cbs%2Cot%3Dv%2Csid%3D%22s1%22"
"""A URL-encoded CMCD (query mode, as hls.js sends it): buffer starvation, object video."""
CLASSES = [
    *("playlist", "playlist", "init"),
    *("segment",) * 6,
    *("api", "upload", "page"),
]
"""The class of each request of the test's plan, in order."""
BUCKETS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
HEX32 = re.compile(r"[0-9a-f]{32}")

Key = tuple[str, ...]


def _mtail(log: Path) -> dict[str, dict[Key, float]]:
    """The metrics mtail's one-shot run reads from ``log``: name -> labels (prog left out,
    sorted by label name) -> value."""
    out = subprocess.run(
        [
            require_binary("mtail"),
            "--one_shot",
            "--one_shot_format=prometheus",
            "--logtostderr",
            "--address",
            "127.0.0.1",  # one-shot mtail still listens while it runs
            "--port",
            str(free_port()),
            "--progs",
            str(MTAIL_DIR),
            "--logs",
            str(log),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    metrics: dict[str, dict[Key, float]] = {}
    for family in text_string_to_metric_families(out.stdout):
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k != "prog"}
            key = tuple(labels[k] for k in sorted(labels))
            metrics.setdefault(sample.name, {})[key] = sample.value
    return metrics


def _origin_access_ids(log_path: Path, expected: int) -> list[str]:
    """The request ids on the origin's uvicorn access lines (JSON), once there are
    ``expected`` of them (each is written as its response starts; bounded wait)."""
    ids: list[str] = []
    for _ in range(50):
        ids = []
        for raw in log_path.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                line = json.loads(raw)
                if line["logger"] == "uvicorn.access" and "/readyz" not in line["msg"]:
                    ids.append(line["request_id"])
        if len(ids) >= expected:
            break
        time.sleep(0.1)
    return ids


@pytest.mark.timeout(120)
def test_the_access_log_carries_request_ids_and_cmcd_and_mtail_counts_it(
    site: MediaSite,
    origins_factory: OriginsFactory,
    edge_factory: EdgeFactory,
    tmp_path: Path,
) -> None:
    require_binary("mtail")
    # the origin writes uvicorn's access lines, as JSON: what reached it, with which id
    (origin,) = origins_factory(1, access_log=True, log_format="json")
    edge = edge_factory([origin.base_url], site.keys)
    pub = site.publish()
    token = site.token(pub.video_id)
    seg0, seg1, seg2 = pub.segments[:3]
    before = len(edge.access_log())

    plan: list[tuple[str, str, dict[str, str]]] = [  # method, URL, headers
        ("GET", pub.url(token, "master.m3u8"), {"X-Request-Id": CLIENT_ID}),
        ("GET", pub.url(token, "v180/index.m3u8") + "?CMCD=ot%3Dm%2Csid%3D%22s1%22", {}),
        ("GET", pub.url(token, "v180/init.mp4") + "?CMCD=ot%3Di", {}),
        ("GET", pub.url(token, seg0) + f"?CMCD={CMCD_SEG}", {}),  # MISS: reaches the origin
        ("GET", pub.url(token, seg0), {"X-Request-Id": "bad id"}),  # HIT without CMCD
        ("GET", pub.url(token, seg0) + "?CMCD=bl%3D3000%2Cot%3Dv", {}),  # other CMCD: HIT
        ("GET", pub.url(token, seg1), {}),  # MISS without CMCD ...
        ("GET", pub.url(token, seg1) + "?CMCD=ot%3Dv%2Cbs", {}),  # ... HIT with it
        ("GET", pub.url("not-a-token", seg2), {"X-Request-Id": "x" * 65}),  # refused
        ("GET", "/api/v1/videos?limit=2", {}),
        ("POST", "/api/v1/uploads", {"Tus-Resumable": "1.0.0", "Upload-Length": "10"}),
        ("GET", "/watch/nothing", {}),
    ]
    responses = []
    with httpx.Client(base_url=edge.base_url, timeout=30) as client:
        for method, url, headers in plan:
            responses.append(client.request(method, url, headers=headers))
    lines = edge.access_log()[before:]
    assert len(lines) == len(plan)

    by_status = [(r.status_code, r.headers.get("x-cache-status")) for r in responses[:9]]
    assert by_status == [
        (200, "MISS"),
        (200, "MISS"),
        (200, "MISS"),
        (200, "MISS"),
        (200, "HIT"),  # the same entry as the request with CMCD: the key has no query
        (200, "HIT"),
        (200, "MISS"),
        (200, "HIT"),
        (403, "REFUSED"),
    ]
    assert responses[4].content == pub.files[seg0]
    assert [line.cache for line in lines] == [
        *("MISS", "MISS", "MISS", "MISS", "HIT", "HIT", "MISS", "HIT"),
        *("none",) * 4,
    ]
    # CMCD: logged as sent, never in the logged URI (nor the token)
    assert lines[3].cmcd == CMCD_SEG and lines[4].cmcd == "-"
    assert all("CMCD" not in line.uri and token not in line.uri for line in lines)

    # one id per request: the client's when well formed, else the edge's own; on the
    # response once (a HIT carries this request's id, not the one that filled the cache)
    ids = []
    for r, line in zip(responses, lines, strict=True):
        (rid,) = r.headers.get_list("x-request-id")
        assert rid == line.request_id
        ids.append(rid)
    assert ids[0] == CLIENT_ID
    assert all(HEX32.fullmatch(rid) for rid in ids[1:]), ids
    assert len(set(ids)) == len(ids)
    # ... and the origin saw exactly the ids of the requests that reached it
    reached = [rid for rid, line in zip(ids, lines, strict=True) if line.upstream != "-"]
    assert len(reached) == 8  # 5 MISSes (3 playlists/init, 2 segments), api, upload, page
    assert sorted(_origin_access_ids(origin.log_path, len(reached))) == sorted(reached)

    # mtail on exactly these lines
    log = tmp_path / "access.log"
    log.write_text("".join(_raw(edge.access_log_path, before)))
    metrics = _mtail(log)
    requests = metrics["reelstream_edge_requests_total"]
    expected = Counter(
        {
            # (cache, class, status_class): labels sorted by name
            ("MISS", "playlist", "2xx"): 2,
            ("MISS", "init", "2xx"): 1,
            ("MISS", "segment", "2xx"): 2,
            ("HIT", "segment", "2xx"): 3,
            ("none", "segment", "4xx"): 1,
            ("none", "api", "4xx"): 1,
            ("none", "upload", "4xx"): 1,
            ("none", "page", "4xx"): 1,
        }
    )
    assert {k: int(v) for k, v in requests.items()} == dict(expected)
    sent = Counter[str]()
    for line, cls in zip(lines, CLASSES, strict=True):
        sent[cls] += line.body_bytes
    assert {k[0]: int(v) for k, v in metrics["reelstream_edge_response_bytes_total"].items()} == (
        dict(sent)
    )
    counts = metrics["reelstream_edge_request_duration_seconds_count"]
    assert {k[0]: int(v) for k, v in counts.items()} == dict(Counter(CLASSES))
    buckets = metrics["reelstream_edge_request_duration_seconds_bucket"]
    assert {float(k[1]) for k in buckets} == {*BUCKETS, float("inf")}
    # each class's +Inf bucket holds all of its requests
    assert {k[0]: int(v) for k, v in buckets.items() if k[1] == "+Inf"} == dict(Counter(CLASSES))
    assert metrics["reelstream_edge_cmcd_requests_total"] == {
        ("m",): 1.0,
        ("i",): 1.0,
        ("v",): 3.0,
    }
    assert metrics["reelstream_edge_cmcd_buffer_starvation_total"] == {(): 2.0}


def _raw(path: Path, skip: int) -> list[str]:
    return path.read_text().splitlines(keepends=True)[skip:]
