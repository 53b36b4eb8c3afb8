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

from reelstream.devcluster.process import exited, spawn, stop_process, tail, wait_until
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

    @classmethod
    def write(cls, config: EdgeConfig, conf_path: Path, binary: str) -> Self:
        """Write ``config`` (exactly as ``reelstream edge-config``) and check it (``nginx -t``)."""
        files = render.write(config, conf_path)
        render.check(files.conf_path, config.prefix, binary)
        host, _, port = config.listen.rpartition(":")
        return cls(binary, files.conf_path, config.prefix, f"http://{host or '127.0.0.1'}:{port}")

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
