"""The edge's token verdicts on cache HITs: what must hold however the check is made cheaper.

Every request is checked at the edge, a cached file included. These tests pin the properties a
faster check (a verdict remembered per token, a cheaper comparison) must keep: a token accepted
a moment ago is refused once it has expired, never opens another video, and a bad signature is
never taken for a good one, whatever was accepted before it. The signature is compared as its
canonical base64url text, exactly as the origin compares it.
"""

from __future__ import annotations

import time

import httpx

from tests.edge.conftest import MediaSite, Origin
from tests.fixtures.nginx import EdgeFactory

_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _tampered(token: str) -> str:
    kid, exp, sig = token.split(".")
    return f"{kid}.{exp}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}"


def test_a_token_accepted_on_a_hit_is_refused_once_it_expires(
    site: MediaSite, origins: list[Origin], edge_factory: EdgeFactory
) -> None:
    edge = edge_factory([o.base_url for o in origins], site.keys)
    pub = site.publish()
    segment = pub.segments[0]
    expires = int(time.time()) + 3
    token = site.signer.sign(pub.video_id, expires)
    with httpx.Client(base_url=edge.base_url, timeout=10) as client:
        statuses = [client.get(pub.url(token, segment)) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 200]
        assert statuses[-1].headers["x-cache-status"] == "HIT"
        while time.time() < expires + 1.1:  # bounded: about 4 s
            time.sleep(0.2)
        r = client.get(pub.url(token, segment))
        assert r.status_code == 403
        assert r.headers["x-cache-status"] == "REFUSED"
        assert r.json()["error"]["code"] == "token_expired"
        # The file is still cached: a fresh token is a HIT, the expired one stays refused.
        fresh = client.get(pub.url(site.token(pub.video_id), segment))
        assert fresh.status_code == 200
        assert fresh.headers["x-cache-status"] == "HIT"
        assert client.get(pub.url(token, segment)).status_code == 403


def test_a_token_accepted_for_one_video_never_opens_another(
    site: MediaSite, origins: list[Origin], edge_factory: EdgeFactory
) -> None:
    edge = edge_factory([o.base_url for o in origins], site.keys)
    mine, other = site.publish(), site.publish()
    token = site.token(mine.video_id)
    with httpx.Client(base_url=edge.base_url, timeout=10) as client:
        # The other video's files are cached (by a viewer who holds a token for it).
        other_token = site.token(other.video_id)
        for path in (other.segments[0], "master.m3u8"):
            assert client.get(other.url(other_token, path)).status_code == 200
        for _ in range(3):  # accepted, many times, for my video ...
            assert client.get(mine.url(token, mine.segments[0])).status_code == 200
            # ... and each time refused for the other one, cached or not.
            for path in (other.segments[0], other.segments[1], "master.m3u8"):
                r = client.get(other.url(token, path))
                assert r.status_code == 403, path
                assert r.json()["error"]["code"] == "token_invalid"
                assert r.headers["x-cache-status"] == "REFUSED"
            # The same video id under another rev is the same video: the token holds there.
            # (A rev the store does not have is the origin's 404, not a refusal.)
            r = client.get(f"/media/{mine.video_id}/000000000000/{token}/master.m3u8")
            assert r.status_code == 404
            assert r.headers["x-cache-status"] != "REFUSED"


def test_a_bad_signature_is_never_taken_for_a_good_one(
    site: MediaSite, origins: list[Origin], edge_factory: EdgeFactory
) -> None:
    edge = edge_factory([o.base_url for o in origins], site.keys)
    pub = site.publish()
    segment = pub.segments[2]
    good = site.token(pub.video_id)
    bad = _tampered(good)
    with httpx.Client(base_url=edge.base_url, timeout=10) as client:
        assert client.get(pub.url(bad, segment)).status_code == 403  # refused first ...
        for _ in range(3):  # ... and after the good one was accepted, every time
            assert client.get(pub.url(good, segment)).status_code == 200
            r = client.get(pub.url(bad, segment))
            assert r.status_code == 403
            assert r.json()["error"]["code"] == "token_invalid"


def test_other_spellings_of_a_valid_signature_are_refused_as_the_origin_does(
    site: MediaSite, origins: list[Origin], edge_factory: EdgeFactory
) -> None:
    """43 base64url characters carry 258 bits for a 32-byte signature: the last character's two
    low bits are unused, so three other texts decode to the same bytes. The origin compares
    text and refuses them; the edge, which compares bytes, must refuse them too."""
    edge = edge_factory([o.base_url for o in origins], site.keys)
    pub = site.publish()
    segment = pub.segments[0]
    good = site.token(pub.video_id)
    kid, exp, sig = good.split(".")
    last = _B64URL.index(sig[-1])
    spellings = [f"{kid}.{exp}.{sig[:-1]}{_B64URL[last ^ low]}" for low in (1, 2, 3)]
    with httpx.Client(base_url=edge.base_url, timeout=10) as client:
        assert client.get(pub.url(good, segment)).status_code == 200
        for token in spellings:
            direct = httpx.get(origins[0].base_url + pub.url(token, segment), timeout=10)
            assert direct.status_code == 403
            r = client.get(pub.url(token, segment))
            assert r.status_code == 403, token
            assert r.headers["x-cache-status"] == "REFUSED"
            assert r.json()["error"]["code"] == direct.json()["error"]["code"] == "token_invalid"
