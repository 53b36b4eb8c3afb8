"""The real nginx edge in front of two live origins: request collapsing, token checks at the
edge (with the same verdicts as the origin), one cache entry per file whatever the viewer's
token, Range from the cache, and consistent hashing of files to origins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from reelstream.auth.tokens import TokenSigner
from tests.edge.conftest import MediaSite, Origin, Published, total_fetches
from tests.fixtures.nginx import EdgeFactory, LogLine


def _tampered(token: str) -> str:
    kid, exp, sig = token.split(".")
    return f"{kid}.{exp}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}"


async def test_100_concurrent_requests_for_one_uncached_segment_make_one_origin_fetch(
    site: MediaSite, origins: list[Origin], edge_factory: EdgeFactory
) -> None:
    edge = edge_factory([o.base_url for o in origins], site.keys)
    pub = site.publish()
    # Each round collapses 100 requests for a segment not yet cached onto one origin fetch. A
    # round counts as evidence of the lock only when requests arrived while that fetch was in
    # flight; on a loaded machine the 100 connections can open slower than the fetch, so up to
    # three rounds (three segments) are tried, and every one of them must make one fetch.
    overlapped = 0
    for segment in pub.segments[3:6]:
        overlapped = await _collapse_round(
            edge.base_url, edge.access_log, site, pub, origins, segment
        )
        if overlapped:
            break
    assert overlapped, "no request overlapped the origin fetch; the test did not exercise the lock"


async def _collapse_round(
    base_url: str,
    access_log: Callable[[], list[LogLine]],
    site: MediaSite,
    pub: Published,
    origins: list[Origin],
    segment: str,
) -> int:
    """100 viewers, each with their own token, request ``segment`` at once: one origin fetch.
    Returns how many requests waited for that fetch rather than finding the file cached."""
    before = total_fetches(origins)
    urls = [pub.url(site.token(pub.video_id, ttl=3600 + i), segment) for i in range(100)]
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        responses = await asyncio.gather(*(client.get(u) for u in urls))

    assert [r.status_code for r in responses] == [200] * 100
    assert all(r.content == pub.files[segment] for r in responses)
    fetches = total_fetches(origins) - before
    assert fetches == 1, f"{fetches} origin fetches for 100 concurrent requests"

    log = [line for line in access_log() if line.uri.endswith(segment)]
    assert len(log) == 100
    misses = [line for line in log if line.cache == "MISS"]
    assert len(misses) == 1
    miss_end = misses[0].end
    waited = [
        line for line in log if line.cache != "MISS" and line.end - line.request_time < miss_end
    ]
    print(f"collapsing: 100 requests -> {fetches} origin fetch; {len(waited)} overlapped it")
    return len(waited)


def test_invalid_tokens_are_refused_at_the_edge_with_the_origins_verdict(
    site: MediaSite, origins: list[Origin], edge_factory: EdgeFactory
) -> None:
    edge = edge_factory([o.base_url for o in origins], site.keys)
    pub, other = site.publish(), site.publish()
    segment, playlist = pub.segments[0], "master.m3u8"
    valid = site.token(pub.video_id)
    kid, exp, sig = valid.split(".")
    bad = {
        "forged signature": _tampered(valid),
        "expired": site.signer.sign(pub.video_id, int(time.time()) - 60),
        "other video's token": site.token(other.video_id),
        "expiry moved without re-signing": f"{kid}.{int(exp) + 86400}.{sig}",
        "unknown key id": TokenSigner({"k9": "z" * 48}, "k9").sign(pub.video_id, int(exp)),
        "malformed": "not-a-token",
        "short signature": f"{kid}.{exp}.{sig[:20]}",
    }
    # What the origin itself says about each (asked directly, not through the edge).
    verdicts = {}
    for name, token in bad.items():
        r = httpx.get(origins[0].base_url + pub.url(token, segment), timeout=10)
        assert r.status_code == 403, name
        verdicts[name] = r.json()["error"]["code"]
    assert verdicts["expired"] == "token_expired"
    assert verdicts["malformed"] == "token_malformed"

    with httpx.Client(base_url=edge.base_url, timeout=10) as client:
        before = total_fetches(origins)
        for path in (segment, playlist):
            for name, token in bad.items():
                r = client.get(pub.url(token, path))
                assert r.status_code == 403, (name, path, r.text)
                assert r.headers["x-cache-status"] == "REFUSED", name
                assert r.headers["cache-control"] == "no-store"
                assert r.headers["content-type"] == "application/json"
                error = r.json()["error"]
                assert error["code"] == verdicts[name], name
                assert error["message"]
        assert total_fetches(origins) == before, "a refused request reached an origin"

        # A valid token: fetched once; a second viewer with another valid token is a cache HIT,
        # so the cache key does not contain the token.
        first = client.get(pub.url(valid, segment))
        assert first.status_code == 200
        assert first.headers["x-cache-status"] == "MISS"
        second = client.get(pub.url(site.token(pub.video_id, ttl=7200), segment))
        assert second.status_code == 200
        assert second.headers["x-cache-status"] == "HIT"
        assert second.content == first.content == pub.files[segment]
        assert "set-cookie" not in second.headers
        assert total_fetches(origins) == before + 1

        # A cached file still needs a valid token.
        r = client.get(pub.url(_tampered(valid), segment))
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "token_invalid"

        # No token at all: not a media URL the edge caches; the origin answers it, as it would.
        r = client.get(f"/media/{pub.video_id}/{pub.rev}/{playlist}")
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "token_missing"
        # Traversal: nginx resolves the dot segments first, so "secrets" lands in the token
        # slot and the edge refuses it; nothing of the data dir comes back.
        r = client.get(pub.url(valid, "v180/..%2F..%2Fsecrets/signing.key"))
        assert r.status_code in (403, 404)
        assert r.json()["error"]["code"] in ("token_malformed", "not_found")


def test_keys_with_awkward_characters_verify_in_njs(
    site: MediaSite, origins: list[Origin], edge_factory: EdgeFactory
) -> None:
    """A second key full of quotes, backslashes and non-ASCII text survives rendering into the
    njs script byte for byte: the edge accepts its tokens and refuses forgeries of them."""
    awkward = "q\"uote'back\\slash$var;{}</script>\u2028é€" + "x" * 16
    keys = {**site.keys, "k2": awkward}
    edge = edge_factory([o.base_url for o in origins], keys)
    pub = site.publish()
    token = TokenSigner(keys, "k2").sign(pub.video_id, int(time.time()) + 600)
    # The edge lets it through (the origins, which only know k1, then refuse it themselves).
    r = httpx.get(edge.base_url + pub.url(token, "master.m3u8"), timeout=10)
    assert r.headers.get("x-cache-status") != "REFUSED", r.text
    assert r.json()["error"]["code"] == "token_invalid"
    r = httpx.get(edge.base_url + pub.url(_tampered(token), "master.m3u8"), timeout=10)
    assert r.headers["x-cache-status"] == "REFUSED"


def test_range_requests_are_answered_from_the_cached_file(
    site: MediaSite, origins: list[Origin], edge_factory: EdgeFactory
) -> None:
    edge = edge_factory([o.base_url for o in origins], site.keys)
    pub = site.publish()
    segment = pub.segments[1]
    data = pub.files[segment]
    url = pub.url(site.token(pub.video_id), segment)
    before = total_fetches(origins)
    with httpx.Client(base_url=edge.base_url, timeout=10) as client:
        r = client.get(url, headers={"Range": "bytes=100-1099"})
        assert r.status_code == 206
        assert r.content == data[100:1100]
        assert r.headers["content-range"] == f"bytes 100-1099/{len(data)}"
        assert r.headers["x-cache-status"] == "MISS"
        r = client.get(url, headers={"Range": "bytes=-500"})
        assert r.status_code == 206
        assert r.content == data[-500:]
        assert r.headers["x-cache-status"] == "HIT"
        r = client.get(url, headers={"Range": f"bytes={len(data) - 10}-"})
        assert r.status_code == 206
        assert r.content == data[-10:]
        r = client.get(url)
        assert r.status_code == 200
        assert r.content == data
        assert r.headers["x-cache-status"] == "HIT"
    # The first Range request made nginx fetch the whole file once; every range came from it.
    assert total_fetches(origins) == before + 1


def test_each_file_always_goes_to_the_same_origin(
    site: MediaSite, origins: list[Origin], edge_factory: EdgeFactory
) -> None:
    """Two edges with separate caches send every file to the same origin, whatever the token,
    and the files spread over both origins."""
    edges = [edge_factory([o.base_url for o in origins], site.keys) for _ in range(2)]
    pubs = [site.publish() for _ in range(4)]
    for i, edge in enumerate(edges):
        with httpx.Client(base_url=edge.base_url, timeout=10) as client:
            for pub in pubs:
                token = site.token(pub.video_id, ttl=3600 + i)
                for path in pub.files:
                    assert client.get(pub.url(token, path)).status_code == 200
    routes = [{line.uri: line.upstream for line in edge.access_log()} for edge in edges]
    assert len(routes[0]) == sum(len(p.files) for p in pubs)
    assert routes[0] == routes[1]
    used = {upstream: list(routes[0].values()).count(upstream) for upstream in routes[0].values()}
    print(f"consistent hashing: files per origin {used}")
    assert set(used) == {o.address for o in origins}


def test_other_paths_are_proxied_uncached(
    site: MediaSite, origins: list[Origin], edge_factory: EdgeFactory
) -> None:
    edge = edge_factory([o.base_url for o in origins], site.keys)
    r = httpx.get(f"{edge.base_url}/readyz", timeout=10)
    assert r.status_code == 200
    assert r.json()["status"] == "ready"
    assert "x-cache-status" not in r.headers
