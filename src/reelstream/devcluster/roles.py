"""``reelstream api|origin|worker`` processes of the local cluster.

Each role process gets its own scratch data folder (tus part buffers, transcode work dirs) and
shares nothing with the others but what its environment names: the database, Redis and the
object store.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from reelstream.devcluster.process import exited, spawn, stop_process, wait_until

RoleName = Literal["api", "origin", "worker"]
WORKER_STARTED = b"worker pool started"
"""What ``reelstream worker`` logs once its pool runs (a worker has no HTTP endpoint)."""


@dataclass
class RoleProcess:
    """One ``python -m reelstream <role>`` process."""

    name: str
    role: RoleName
    data_dir: Path
    log_path: Path
    env: Mapping[str, str] = field(repr=False)
    port: int | None = None
    http_workers: int = 1
    """Server processes of an api or origin role (``--workers``); its supervisor is ``proc``."""
    metrics_port: int | None = None
    """A worker's loopback ``/metrics`` port (``reelstream worker --metrics-port``)."""
    proc: subprocess.Popen[bytes] | None = None
    _log_offset: int = 0

    @property
    def url(self) -> str | None:
        return None if self.port is None else f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "reelstream", self.role, "--data-dir", str(self.data_dir)]
        if self.port is not None:
            argv += ["--host", "127.0.0.1", "--port", str(self.port)]
            argv += ["--workers", str(self.http_workers)]
        if self.metrics_port is not None:
            argv += ["--metrics-port", str(self.metrics_port)]
        return argv

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = spawn(self.argv(), self.log_path, env=self.env)

    def _ready(self) -> bool:
        if self.url is None:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return WORKER_STARTED in log.read()
        return httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200

    def wait_ready(self, timeout: float) -> None:
        """Until ``/readyz`` answers 200 (a worker: until it logs that its pool runs)."""
        assert self.proc is not None
        failed = exited(self.proc, self.log_path)
        wait_until(self._ready, timeout=timeout, what=self.name, failed=failed, interval=0.25)

    def stop(self, timeout: float) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout)
