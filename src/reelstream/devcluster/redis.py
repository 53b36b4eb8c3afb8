"""A ``redis-server`` on a loopback port, without persistence (Redis only accelerates)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis

from reelstream.devcluster.process import (
    exited,
    free_port,
    spawn,
    stop_process,
    tail,
    wait_until,
    which,
)


def find_redis() -> str | None:
    return which("redis-server")


class RedisServer:
    """One ``redis-server`` process that can be stopped and started again on its port."""

    def __init__(
        self, binary: str, workdir: Path, *, port: int | None = None, log_path: Path | None = None
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = log_path or workdir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def _ping(self) -> bool:
        with self.client() as c:
            return bool(c.ping())

    def start(self, timeout: float = 20) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--daemonize", "no",
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        self.proc = spawn(argv, self.log_path)
        wait_until(
            self._ping,
            timeout=timeout,
            what="redis-server",
            failed=exited(self.proc, self.log_path),
            interval=0.05,
        )

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def log(self) -> str:
        return tail(self.log_path)
