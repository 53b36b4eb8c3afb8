"""What the plain ASGI media handler adds to the origin's contract (``test_origin.py`` holds
the contract itself): other methods, large files read in pieces, files that change or go
away between requests, unexpected errors, the metrics, and the FastAPI routes that document
the operations (and answer the same when reached)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from reelstream.delivery import asgi
from reelstream.delivery.asgi import OTHER_ROUTE, SERVE_ROUTE, route_path
from reelstream.storage.keys import rev_prefix
from tests.delivery.test_origin import SEGMENT, Origin, assert_json_error, origin  # noqa: F401

SEG = "v360/seg_00001.m4s"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(origin: Origin, method: str) -> None:  # noqa: F811
    for url in (origin.url(SEG), f"/media/{origin.video_id}/{origin.rev}/master.m3u8"):
        r = origin.client.request(method, url)
        assert r.status_code == 405
        assert r.json()["error"]["code"] == "method_not_allowed"
        assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_a_large_file_is_sent_in_pieces(
    origin: Origin,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asgi, "READ_IN_LOOP_MAX", 10_000)
    monkeypatch.setattr(asgi, "CHUNK", 64 * 1024)
    r = origin.get(SEG)
    assert r.status_code == 200
    assert r.content == SEGMENT
    assert r.headers["content-length"] == str(len(SEGMENT))
    r = origin.get(SEG, range="bytes=1000-250000")
    assert r.status_code == 206
    assert r.content == SEGMENT[1000:250001]
    r = origin.get(SEG, range="bytes=10-20")  # small enough for one read
    assert r.content == SEGMENT[10:21]


def test_a_file_deleted_after_it_was_served_is_404(origin: Origin) -> None:  # noqa: F811
    assert origin.get(SEG).status_code == 200
    assert origin.client.portal is not None
    key = f"{rev_prefix(origin.video_id, origin.rev)}/{SEG}"
    origin.client.portal.call(origin.services.store.delete, key)
    assert_json_error(origin.get(SEG), 404, "not_found")
    origin.put(SEG, b"back, shorter")
    r = origin.get(SEG)
    assert r.content == b"back, shorter"
    assert r.headers["content-length"] == "13"


def test_an_unexpected_error_is_a_json_500(
    origin: Origin,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(key: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(origin.services.store, "stat", broken)
    client = TestClient(origin.client.app, raise_server_exceptions=False)
    r = client.get(origin.url(SEG))
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"


def test_media_requests_are_counted_by_route_template(origin: Origin) -> None:  # noqa: F811
    origin.get(SEG)
    origin.get("missing.m4s")
    origin.client.get(f"/media/{origin.video_id}/{origin.rev}/master.m3u8")
    origin.client.options(origin.url(SEG))
    text = origin.client.get("/metrics").text
    for method, route, status in (
        ("GET", SERVE_ROUTE, 200),
        ("GET", SERVE_ROUTE, 404),
        ("GET", OTHER_ROUTE, 403),
        ("OPTIONS", OTHER_ROUTE, 204),
    ):
        line = (
            f'reelstream_http_requests_total{{method="{method}",route="{route}",status="{status}"}}'
        )
        assert line in text, line
    assert (
        f'reelstream_http_request_duration_seconds_count{{method="GET",route="{SERVE_ROUTE}"}} 2.0'
        in text
    )


def test_the_fastapi_routes_answer_the_same(
    origin: Origin,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the dispatch in front, the documented routes hand requests to the handler."""
    monkeypatch.setattr(origin.client.app, "media", None)
    r = origin.get(SEG, range="bytes=0-9")
    assert r.status_code == 206
    assert r.content == SEGMENT[:10]
    assert r.headers["access-control-allow-origin"] == "*"
    assert_json_error(origin.get("missing.m4s"), 404, "not_found")
    r = origin.client.get(f"/media/{origin.video_id}/{origin.rev}/master.m3u8")
    assert_json_error(r, 403, "token_missing")
    assert origin.client.options(origin.url(SEG)).status_code == 204


def test_the_media_operations_stay_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    media = {p: ops for p, ops in paths.items() if p.startswith("/media")}
    assert list(media) == ["/media/{video_id}/{rev}/{token}/{path}"]
    ops = media["/media/{video_id}/{rev}/{token}/{path}"]
    assert {op["operationId"] for op in ops.values()} == {"get_media", "head_media"}
    assert {"200", "206", "304", "403", "404", "416"} <= set(ops["get"]["responses"])


@pytest.mark.parametrize(
    ("path", "root", "routed"),
    [
        ("/media/a", "", "/media/a"),
        ("/proxy/media/a", "/proxy", "/media/a"),
        ("/media/a", "/proxy", "/media/a"),  # a server that does not prefix the path
        ("/proxymedia/a", "/proxy", "/proxymedia/a"),
    ],
)
def test_route_path_strips_the_root_path(path: str, root: str, routed: str) -> None:
    assert route_path({"type": "http", "path": path, "root_path": root}) == routed


@pytest.mark.parametrize("settings", ["local"], indirect=True)  # only local files are opened
def test_a_file_replaced_between_stat_and_open_is_stat_again(
    origin: Origin,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The headers always describe the bytes sent: a version that changed under the request
    is looked up once more; one that keeps changing is a 503, never a mismatched body."""
    assert origin.services.settings.storage_backend == "local"
    real_fstat = os.fstat
    changes = {"left": 1}

    def fstat(fd: int) -> os.stat_result | SimpleNamespace:
        st = real_fstat(fd)
        if changes["left"] > 0:
            changes["left"] -= 1
            return SimpleNamespace(st_size=st.st_size + 1, st_mtime=st.st_mtime)
        return st

    monkeypatch.setattr(os, "fstat", fstat)
    r = origin.get(SEG)
    assert r.status_code == 200
    assert r.content == SEGMENT
    assert changes["left"] == 0
    changes["left"] = 2
    assert_json_error(origin.get(SEG), 503, "storage_error")


def test_a_cmcd_query_changes_nothing(origin: Origin) -> None:  # noqa: F811
    """The player sends CMCD (CTA-5004) in the query of every media request; the token is in
    the path, so the query neither breaks its check nor the ranges, and a bad token is still
    refused."""
    query = "?CMCD=" + "%2C".join(["bl%3D4000", "br%3D430", "ot%3Dv", "sid%3D%22abc%22"])
    r = origin.client.get(origin.url(SEG) + query)
    assert r.status_code == 200 and r.content == SEGMENT
    r = origin.client.get(origin.url(SEG) + query, headers={"range": "bytes=10-20"})
    assert r.status_code == 206 and r.content == SEGMENT[10:21]
    assert r.headers["content-range"] == f"bytes 10-20/{len(SEGMENT)}"
    etag = origin.get(SEG).headers["etag"]
    r = origin.client.get(origin.url(SEG) + query, headers={"if-none-match": etag})
    assert r.status_code == 304
    r = origin.client.get(origin.url(SEG, token="k1.1.bad") + query)
    assert r.status_code == 403, r.text
