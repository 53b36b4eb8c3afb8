"""The chaos campaign's webhook sink: a small HTTP server that reelstream delivers events to.

Every POST it receives is appended as one JSON line to a log file (``time``, ``path``, the
headers, among them the ``Webhook-Id``/``Webhook-Timestamp``/``Webhook-Signature`` reelstream
signs with, the body as JSON, and whether the signature verified when the secret is known) and
answered 204 at once, so the campaign sees every delivery, duplicates included; the checker
(``benchmarks.chaos.checker``) then asks for exactly one ``video.ready`` event id per video.

The signature is checked here by hand (HMAC-SHA256 over ``{id}.{timestamp}.{body}``, as
docs/api.md describes it), not with ``reelstream.webhooks.signing``: the sink is a client and
must not share the code it checks.

Written on the standard library's ``ThreadingHTTPServer`` (a thread per connection, loopback
only, a free port): the sink must keep answering while the campaign's event loop is busy, and
it needs nothing an HTTP framework adds.

The cluster must allow loopback webhook targets (``REELSTREAM_WEBHOOK_ALLOW_PRIVATE=true``;
on by default in development) for ``register`` to be accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

EVENTS = ("video.ready", "video.failed", "upload.completed")
MAX_BODY = 1 << 20  # reelstream's event bodies are a few hundred bytes


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether one ``v1`` signature in ``Webhook-Signature`` signs this delivery."""
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    mac = hmac.new(secret.encode(), f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256)
    expected = base64.b64encode(mac.digest()).decode()
    given = headers.get("webhook-signature", "").split()
    return any(sig.startswith("v1,") and hmac.compare_digest(sig[3:], expected) for sig in given)


def read_log(path: Path) -> list[dict[str, Any]]:
    """The deliveries a sink logged (a torn last line, from a sink that was killed, is
    skipped)."""
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        raw = self.rfile.read(length)
        self.send_response(204)
        self.end_headers()
        self.server.sink.record(self.path, dict(self.headers.items()), raw)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the JSON-lines log is the record


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sink: WebhookSink) -> None:
        self.sink = sink
        super().__init__(("127.0.0.1", 0), _Handler)


class WebhookSink:
    """``with WebhookSink(path) as sink: sink.register(edge_url, admin_token)``."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.secret: str | None = None  # known once ``register`` made the endpoint
        self.endpoint_id: str | None = None
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.received = 0

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the sink first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks"

    def start(self) -> WebhookSink:
        if self._server is None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name="webhook-sink",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def record(self, path: str, headers: dict[str, str], raw: bytes) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            body: Any = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = raw.decode("utf-8", "replace")
        entry = {
            "time": time.time(),
            "path": path,
            "headers": lower,
            "body": body,
            "signature_ok": None if self.secret is None else verify(self.secret, lower, raw),
        }
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self._lock, self.log_path.open("a") as f:
            f.write(line)
            self.received += 1

    def register(
        self,
        base_url: str,
        token: str,
        events: Sequence[str] = EVENTS,
        *,
        timeout_s: float = 10.0,
    ) -> str:
        """Register this sink as a webhook endpoint of the token's user (``POST
        /api/v1/webhooks``); returns the endpoint id and keeps its secret to verify
        deliveries."""
        r = httpx.post(
            f"{base_url.rstrip('/')}/api/v1/webhooks",
            json={"url": self.url, "events": list(events), "description": "chaos sink"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )
        if r.status_code != 201:
            raise RuntimeError(f"cannot register the webhook sink: HTTP {r.status_code} {r.text}")
        data = r.json()
        self.secret = str(data["secret"])
        self.endpoint_id = str(data["id"])
        return self.endpoint_id

    def deliveries(self) -> list[dict[str, Any]]:
        return read_log(self.log_path)
