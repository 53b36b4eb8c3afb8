"""Webhook URLs an attacker would point at the server's own network (SSRF), with private
addresses refused as in production: loopback in every spelling (decimal, octal, IPv4-mapped
IPv6, ``0.0.0.0``, ``localhost``), RFC 1918, link-local cloud metadata, user-info tricks,
and schemes other than http(s). Each is a 422 ``invalid_webhook`` and no endpoint is
stored. (Non-global ranges such as 100.64.0.0/10 and 6to4 are issue 9's defect 1, tested
in ``tests/webhooks``.)"""

from __future__ import annotations

import pytest

from tests.hostile.conftest import World, error_code

URLS: list[tuple[str, str]] = [
    ("loopback", "http://127.0.0.1:8080/hook"),
    ("loopback-other", "http://127.1.2.3/hook"),
    ("localhost", "http://localhost/hook"),
    ("localhost-subdomain", "http://api.localhost/hook"),
    ("loopback-decimal", "http://2130706433/hook"),
    ("loopback-octal", "http://0177.0.0.1/hook"),
    ("loopback-hex", "http://0x7f000001/hook"),
    ("unspecified", "http://0.0.0.0/hook"),
    ("ipv6-loopback", "http://[::1]/hook"),
    ("ipv4-mapped-ipv6", "http://[::ffff:127.0.0.1]/hook"),
    ("rfc1918-10", "http://10.0.0.1/hook"),
    ("rfc1918-192-168", "https://192.168.1.1/hook"),
    ("rfc1918-172-16", "http://172.16.0.1/hook"),
    ("cloud-metadata", "http://169.254.169.254/latest/meta-data/"),
    ("ipv6-link-local", "http://[fe80::1]/hook"),
    ("ipv6-unique-local", "http://[fd00::1]/hook"),
    ("userinfo-trick", "http://hooks.example.com@127.0.0.1/hook"),
    ("scheme-ftp", "ftp://hooks.example.com/hook"),
    ("scheme-javascript", "javascript:alert(1)"),
    ("no-host", "http:///hook"),
]


@pytest.mark.parametrize("url", [pytest.param(u[1], id=u[0]) for u in URLS])
def test_internal_webhook_urls_are_refused(intact: World, url: str) -> None:
    before = intact.request("GET", "/api/v1/webhooks").json()["items"]
    r = intact.request("POST", "/api/v1/webhooks", json={"url": url})
    assert r.status_code == 422, r.text
    assert error_code(r) == "invalid_webhook"
    assert intact.request("GET", "/api/v1/webhooks").json()["items"] == before
