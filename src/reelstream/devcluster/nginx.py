"""The nginx edge: write the configuration with ``reelstream.edge``, check it, run nginx.

nginx runs in the foreground (``daemon off``) with its own prefix (pid file, logs, temp files)
and cache, so it never touches ``/etc/nginx`` or ``/var/log/nginx``.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Self

import httpx

from reelstream.devcluster.process import (
    alive,
    descendants,
    exited,
    spawn,
    stop_process,
    tail,
    wait_until,
)
from reelstream.edge import render
from reelstream.edge.config import NJS_MODULE, EdgeConfig


def nginx_available() -> bool:
    return render.find_nginx() is not None and NJS_MODULE.is_file()


class NginxEdge:
    """One nginx master process serving an edge configuration."""

    def __init__(self, binary: str, conf_path: Path, prefix: Path, base_url: str) -> None:
        self.binary = binary
        self.conf_path = conf_path
        self.prefix = prefix
        self.base_url = base_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.config: EdgeConfig | None = None
        """What ``conf_path`` was rendered from (``write``, ``rewrite``)."""

    @classmethod
    def write(cls, config: EdgeConfig, conf_path: Path, binary: str) -> Self:
        """Write ``config`` (exactly as ``reelstream edge-config``) and check it (``nginx -t``)."""
        files = render.write(config, conf_path)
        render.check(files.conf_path, config.prefix, binary)
        host, _, port = config.listen.rpartition(":")
        edge = cls(binary, files.conf_path, config.prefix, f"http://{host or '127.0.0.1'}:{port}")
        edge.config = config
        return edge

    def rewrite(self, config: EdgeConfig) -> None:
        """Write and check a new configuration (``reload`` makes nginx use it)."""
        files = render.write(config, self.conf_path)
        render.check(files.conf_path, config.prefix, self.binary)
        self.config = config

    def workers(self) -> set[int]:
        """The master's children now: workers, cache manager and loader."""
        return descendants(self.proc.pid) if self.pid is not None and self.proc else set()

    def reload(self, drain_timeout: float) -> None:
        """``nginx -s reload`` (SIGHUP to the master): new workers start with the new
        configuration; the old ones stop accepting, finish their requests in flight and exit.
        Returns once every old worker exited (within ``drain_timeout``), so nothing is on its
        way to an upstream the new configuration dropped."""
        assert self.proc is not None
        assert self.pid is not None
        old = self.workers()
        self.proc.send_signal(signal.SIGHUP)
        wait_until(
            lambda: not alive(old) and bool(self.workers()),
            timeout=drain_timeout,
            what="nginx reload (old workers draining)",
            failed=exited(self.proc, self.stderr_path),
            interval=0.1,
        )

    @property
    def stderr_path(self) -> Path:
        return self.prefix / "logs" / "stderr.log"

    @property
    def access_log_path(self) -> Path:
        return self.prefix / "logs" / "access.log"

    @property
    def error_log_path(self) -> Path:
        return self.prefix / "logs" / "error.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def _healthy(self) -> bool:
        return httpx.get(f"{self.base_url}/edge/healthz", timeout=2).status_code == 200

    def start(self, timeout: float = 30) -> None:
        argv = [
            self.binary, "-c", str(self.conf_path), "-p", str(self.prefix),
            "-e", "stderr", "-g", "daemon off;",
        ]  # fmt: skip
        self.proc = spawn(argv, self.stderr_path)
        proc_exited = exited(self.proc, self.stderr_path)

        def failed() -> str | None:
            reason = proc_exited()
            return reason and f"{reason}\n{self.error_log()}"

        wait_until(self._healthy, timeout=timeout, what="nginx", failed=failed, interval=0.05)

    def stop(self, timeout: float = 20) -> None:
        """SIGQUIT (graceful), then SIGTERM, then SIGKILL of the master process."""
        if self.proc is not None:
            stop_process(self.proc, timeout, (signal.SIGQUIT, signal.SIGTERM))

    def error_log(self) -> str:
        return tail(self.error_log_path, 5000)
