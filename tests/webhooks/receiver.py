"""A real HTTP webhook receiver on 127.0.0.1 for the tests: records every request and answers
500 while it is told to be failing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/hook"
        self.failures_left = 0  # answer 500 to this many requests, then 200
        self.received: list[Received] = []
        self._lock = threading.Lock()

    def answer(self) -> int:
        with self._lock:
            if self.failures_left > 0:
                self.failures_left -= 1
                return 500
            return 200

    def record(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def accepted(self) -> list[Received]:
        return [r for r in self.requests() if r.answered == 200]

    def wait_for(self, predicate: Any, timeout: float = 60) -> list[Received]:
        """Wait until ``predicate(accepted requests)`` is true; return the accepted ones."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.accepted()
            if predicate(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"the receiver never saw what was expected; got {self.requests()}")


@contextmanager
def run_receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver = holder["r"]
            status = receiver.answer()
            receiver.record(Received(self.path, dict(self.headers.items()), body, status))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder["r"] = Receiver(int(server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["r"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
