"""Webhook SSRF: every address that is not globally routable is refused, at registration (422
with the reason, production mode) and at delivery, after resolving the name again."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from reelstream import webhooks
from reelstream.app import create_app
from reelstream.config import Settings
from reelstream.services import Services
from reelstream.webhooks.dispatcher import Dispatcher
from reelstream.webhooks.errors import InvalidWebhook
from reelstream.webhooks.urls import non_global_reason, resolve_destination
from tests.support import sign_in
from tests.webhooks.helpers import new_video, user_with_endpoint
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_delivery import all_deliveries

# Names the tests point wherever they like (the real resolver answers every other name).
FAKE_DNS: dict[str, list[str]] = {}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in FAKE_DNS:
            out = []
            for address in FAKE_DNS[name]:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr: tuple[Any, ...] = (address, port or 0)
                if family == socket.AF_INET6:
                    sockaddr = (address, port or 0, 0, 0)
                out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
            return out
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    FAKE_DNS.clear()
    yield FAKE_DNS
    FAKE_DNS.clear()


REFUSED = [
    ("http://100.100.100.200/latest/meta-data/", "100.100.100.200"),  # 100.64/10, cloud metadata
    ("http://[2002:7f00:1::]:8080/", "wraps 127.0.0.1"),  # 6to4 of loopback
    ("http://[2002:a00:1::]/", "wraps 10.0.0.1"),  # 6to4 of a private v4
    ("http://[::ffff:127.0.0.1]/hook", "127.0.0.1"),  # IPv4-mapped
    ("http://[::ffff:7f00:1]/hook", "127.0.0.1"),  # IPv4-mapped, hex
    ("http://[::127.0.0.1]/hook", "wraps 127.0.0.1"),  # IPv4-compatible
    ("http://[64:ff9b::a00:1]/hook", "wraps 10.0.0.1"),  # NAT64 of a private v4
    ("http://[64:ff9b::a9fe:a9fe]/", "wraps 169.254.169.254"),  # NAT64 of the metadata address
    ("http://[64:ff9b:1::1]/", "NAT64"),  # local-use NAT64
    ("http://0.0.0.0/hook", "0.0.0.0"),
    ("http://[::]/hook", "::"),
    ("http://[::1]:8000/hook", "::1"),
    ("http://127.0.0.1:8080/hook", "127.0.0.1"),
    ("http://127.1.2.3/hook", "127.1.2.3"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
    ("http://[fe80::1]/hook", "fe80::1"),
    ("http://[fd00::1]/hook", "fd00::1"),
    ("http://10.1.2.3/hook", "10.1.2.3"),
    ("http://172.16.0.1/hook", "172.16.0.1"),
    ("http://192.168.0.10/hook", "192.168.0.10"),
    ("http://192.0.0.1/hook", "192.0.0.1"),  # IETF protocol assignments
    ("http://192.0.2.1/hook", "192.0.2.1"),  # documentation
    ("http://198.18.0.1/hook", "198.18.0.1"),  # benchmarking
    ("http://240.0.0.1/hook", "240.0.0.1"),  # reserved
    ("http://255.255.255.255/hook", "255.255.255.255"),  # broadcast
    ("http://224.0.0.1/hook", "multicast"),
    ("http://[ff0e::1]/hook", "multicast"),
    ("http://[2001:db8::1]/hook", "2001:db8::1"),  # documentation v6
    ("http://2130706433/hook", "non-canonical"),  # decimal 127.0.0.1
    ("http://0x7f.1/hook", "non-canonical"),  # hex
    ("http://0x7f000001/hook", "non-canonical"),
    ("http://017700000001/hook", "non-canonical"),  # octal
    ("http://0177.0.0.1/hook", "non-canonical"),  # dotted octal
    ("http://127.1/hook", "non-canonical"),  # short form
    ("http://localhost/hook", "loopback"),
    ("http://localhost./hook", "loopback"),
    ("http://api.localhost/hook", "loopback"),
    ("http://127.0.0.1./hook", "127.0.0.1"),  # trailing dot
    ("http://internal.example.test/hook", "internal.example.test -> 127.0.0.1"),  # resolves
    ("http://mixed.example.test/hook", "mixed.example.test -> 10.0.0.7"),  # one address of two
]


@pytest.fixture
def production(tmp_path: Path, fake_dns: dict[str, list[str]]) -> Iterator[TestClient]:
    fake_dns["internal.example.test"] = ["127.0.0.1"]
    fake_dns["mixed.example.test"] = ["93.184.216.34", "10.0.0.7"]
    fake_dns["public.example.test"] = ["93.184.216.34"]
    settings = Settings(
        env="production",
        data_dir=tmp_path / "data",
        embedded_workers=False,
        dev_admin=False,
        public_base_url="https://videos.example.com",
        _env_file=None,
    )
    assert not settings.allow_private_webhooks
    with TestClient(create_app(settings)) as c:
        sign_in(c)
        yield c


@pytest.mark.parametrize(("url", "fragment"), REFUSED, ids=[u for u, _ in REFUSED])
def test_non_global_destinations_are_refused_at_registration(
    production: TestClient, url: str, fragment: str
) -> None:
    r = production.post("/api/v1/webhooks", json={"url": url})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_webhook"
    assert "not globally routable" in err["message"] and fragment in err["message"], err
    assert production.get("/api/v1/webhooks").json()["items"] == []


@pytest.mark.parametrize(
    "url",
    [
        "https://public.example.test/hook",
        "http://93.184.216.34:8080/hook",
        "https://[2606:4700::1111]/hook",
        "http://[::ffff:8.8.8.8]/hook",  # mapped, but a global v4
        "https://unresolvable.invalid/hook",  # checked again at every delivery
    ],
)
def test_global_destinations_are_accepted(production: TestClient, url: str) -> None:
    assert production.post("/api/v1/webhooks", json={"url": url}).status_code == 201


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"],
)
def test_global_addresses_have_no_reason(address: str) -> None:
    assert non_global_reason(ipaddress.ip_address(address)) is None


async def test_delivery_is_pinned_to_the_checked_address(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["hooks.example.test"] = ["93.184.216.34", "2606:2800:220:1::1"]
    d = await resolve_destination("https://hooks.example.test:8443/x?y=1", allow_private=False)
    assert d.url == "https://93.184.216.34:8443/x?y=1"
    assert d.host_header == "hooks.example.test:8443"
    assert d.sni_hostname == "hooks.example.test"
    fake_dns["hooks.example.test"] = ["2606:2800:220:1::1"]
    d = await resolve_destination("http://hooks.example.test/x", allow_private=False)
    assert (d.url, d.host_header, d.sni_hostname) == (
        "http://[2606:2800:220:1::1]/x",
        "hooks.example.test",
        None,
    )
    fake_dns["hooks.example.test"] = ["93.184.216.34", "169.254.169.254"]
    with pytest.raises(InvalidWebhook, match=r"169\.254\.169\.254"):
        await resolve_destination("https://hooks.example.test/x", allow_private=False)
    with pytest.raises(InvalidWebhook, match="does not resolve"):
        await resolve_destination("https://nothing-here.invalid/x", allow_private=False)


async def test_a_name_re_pointed_to_loopback_is_refused_at_delivery(
    services: Services, receiver: Receiver, fake_dns: dict[str, list[str]]
) -> None:
    """Registered while the name was public; by delivery time it resolves to the receiver on
    127.0.0.1: nothing is sent and the reason is recorded."""
    fake_dns["rebind.example.test"] = ["93.184.216.34"]
    url = f"http://rebind.example.test:{receiver.port}/hook"
    owner, _, _ = await user_with_endpoint(services, "ann", url)
    fake_dns["rebind.example.test"] = ["127.0.0.1"]
    vid = await new_video(services, owner)
    async with services.db.transaction() as s:
        assert await webhooks.emit(s, "video.ready", vid) is not None
    dispatcher = Dispatcher(services, "d")
    dispatcher.settings = services.settings.model_copy(update={"webhook_allow_private": False})
    async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as client:
        assert await dispatcher.run_once(client) == 1
    assert receiver.requests() == []
    (row,) = await all_deliveries(services)
    assert row.state == "pending" and row.last_status is None
    assert "not globally routable" in (row.last_error or "")
    assert "rebind.example.test -> 127.0.0.1" in (row.last_error or "")


class _Redirector(BaseHTTPRequestHandler):
    """Answers every POST with a redirect to an internal address, and counts what reaches it."""

    hits: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.hits.append(self.path)
        self.send_response(307)
        self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


async def test_a_redirect_is_never_followed(services: Services) -> None:
    """Even with a client that would follow redirects, the 307 is the attempt's answer."""
    _Redirector.hits.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        owner, _, _ = await user_with_endpoint(services, "ann", url)  # allowed in development
        vid = await new_video(services, owner)
        async with services.db.transaction() as s:
            assert await webhooks.emit(s, "video.ready", vid) is not None
        async with httpx.AsyncClient(trust_env=False, follow_redirects=True) as client:
            assert await Dispatcher(services, "d").run_once(client) == 1
    finally:
        server.shutdown()
        server.server_close()
    (row,) = await all_deliveries(services)
    assert row.state == "pending" and row.last_status == 307
    assert _Redirector.hits == ["/hook"]
