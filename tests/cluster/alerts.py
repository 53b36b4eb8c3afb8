"""Helpers of the cluster module's monitoring tests: Alertmanager's webhook receiver and
Prometheus queries."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx

SCRAPE_JOBS = {
    "api", "origin", "worker", "edge", "edge_log", "postgres", "patroni", "etcd", "redis",
    "node", "prometheus", "alertmanager",
}  # fmt: skip


class AlertReceiver:
    """A loopback HTTP server keeping every alert Alertmanager posts, in arrival order; each
    kept alert gets ``at``, its index (``mark()`` is the index of the next one)."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._cond:
                    for alert in body.get("alerts", []):
                        receiver.alerts.append(alert | {"at": len(receiver.alerts)})
                    receiver._cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> AlertReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def mark(self) -> int:
        with self._cond:
            return len(self.alerts)

    def find(
        self, name: str, status: str, since: int = 0, labels: dict[str, str] | None = None
    ) -> dict[str, Any] | None:
        """The first alert ``name`` with ``status`` (and exactly ``labels``, when given) kept
        after ``since``, if any."""
        with self._cond:
            for alert in self.alerts[since:]:
                if (
                    alert["labels"].get("alertname") == name
                    and alert["status"] == status
                    and (labels is None or alert["labels"] == labels)
                ):
                    return alert
        return None

    def wait(
        self,
        name: str,
        status: str,
        since: int = 0,
        *,
        timeout: float,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The first alert ``name`` with ``status`` (firing, resolved) kept after ``since``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self.find(name, status, since, labels)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(a["labels"].get("alertname"), a["status"]) for a in self.alerts]
                    raise AssertionError(f"no {status} {name} within {timeout:.0f} s: {seen}")
                self._cond.wait(min(left, 1.0))


def prometheus_query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = resp.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def wait_targets_up(prometheus: str, timeout: float) -> list[dict[str, Any]]:
    """Prometheus's active targets once every one is up (fails with the ones that are not)."""
    deadline = time.monotonic() + timeout
    while True:
        resp = httpx.get(f"{prometheus}/api/v1/targets", timeout=10)
        targets: list[dict[str, Any]] = resp.json()["data"]["activeTargets"]
        down = [
            (t["labels"]["job"], t["labels"]["instance"], t["health"], t["lastError"])
            for t in targets
            if t["health"] != "up"
        ]
        if targets and not down:
            return targets
        if time.monotonic() > deadline:
            raise AssertionError(f"targets not up within {timeout:.0f} s: {down}")
        time.sleep(0.5)
