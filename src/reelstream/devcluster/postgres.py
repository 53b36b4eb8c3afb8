"""PostgreSQL 15 servers: a primary and its streaming standby, started with initdb/pg_ctl.

``PgServer`` is one server in a data folder on a loopback port; ``PgPair`` a primary with an
optional standby (``pg_basebackup -R``). When the caller is root, every PostgreSQL program runs
as the ``postgres`` user (PostgreSQL refuses to run as root), so the folders it writes must
belong to that user and every folder above them must be traversable by it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from reelstream.devcluster.process import AS_ROOT, StartError, alive, descendants, free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PROGRAMS = ("initdb", "pg_ctl", "postgres", "pg_basebackup", "psql")

CONFIG = """
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 300
shared_buffers = 32MB
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 256MB
hot_standby = on
hot_standby_feedback = on
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 200ms
max_wal_size = 1GB
checkpoint_timeout = 30min
log_min_messages = warning
log_line_prefix = '%m [%p] '
"""


def pg_available() -> bool:
    return all((PG_BIN / p).is_file() for p in PG_PROGRAMS)


def chown_postgres(path: Path) -> None:
    """Hand ``path`` to the postgres user (when running as root; a no-op otherwise)."""
    if AS_ROOT:
        shutil.chown(path, "postgres", "postgres")


def make_root(prefix: str, parent: str = "/tmp") -> Path:  # noqa: S108
    """A fresh temp folder owned by the postgres user."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    chown_postgres(root)
    return root


def writable_by_postgres(folder: Path) -> bool:
    """Whether the postgres user can write into ``folder`` (and reach it)."""
    if not AS_ROOT:
        return os.access(folder, os.W_OK | os.X_OK)
    out = subprocess.run(["test", "-w", str(folder), "-a", "-x", str(folder)], user="postgres")
    return out.returncode == 0


def _run(cmd: list[str], *, cwd: Path, timeout: float = 120) -> str:
    out = subprocess.run(
        cmd,
        cwd=cwd,
        user="postgres" if AS_ROOT else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        start_new_session=True,  # the postmaster must not get the terminal's Ctrl-C
    )
    if out.returncode != 0:
        raise StartError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-3000:]}")
    return out.stdout


class PgServer:
    """One PostgreSQL server (primary or standby) in ``<root>/<name>`` on a loopback port.

    ``root`` must be writable by the postgres user; the log goes to ``log_path``
    (default ``<root>/<name>.log``).
    """

    def __init__(
        self, root: Path, name: str, *, port: int | None = None, log_path: Path | None = None
    ) -> None:
        self.root = root
        self.name = name
        self.data = root / name
        self.log_path = log_path or root / f"{name}.log"
        self.port = port or free_port()
        self.running = False
        self.frozen = False

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    def _pg(self, program: str, *args: object) -> str:
        return _run([str(PG_BIN / program), *map(str, args)], cwd=self.root)

    # -- lifecycle
    def init(self, template: Path | None = None) -> None:
        """initdb (or copy an initdb'd template dir, which is much faster) and configure."""
        if template is not None:
            shutil.copytree(template, self.data, symlinks=True)
            if AS_ROOT:
                subprocess.run(["chown", "-R", "postgres:postgres", str(self.data)], check=True)
            os.chmod(self.data, 0o700)
        else:
            self._pg("initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8")
            with (self.data / "postgresql.conf").open("a") as f:
                f.write(CONFIG)

    def clone_from(self, primary: PgServer) -> None:
        """Make this server a streaming standby of ``primary`` (pg_basebackup -R)."""
        self._pg(
            "pg_basebackup", "-h", "127.0.0.1", "-p", primary.port, "-U", "postgres",
            "-D", self.data, "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip

    def follow(self, primary: PgServer) -> None:
        """Point an existing standby at ``primary``'s current port (ports change between runs)."""
        auto = self.data / "postgresql.auto.conf"
        lines = [
            line
            for line in auto.read_text().splitlines()
            if not line.strip().startswith("primary_conninfo")
        ]
        conninfo = f"host=127.0.0.1 port={primary.port} user=postgres application_name={self.name}"
        lines.append(f"primary_conninfo = '{conninfo}'")
        auto.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        if not self.log_path.exists():
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.touch()
            chown_postgres(self.log_path)
        self._pg(
            "pg_ctl", "-D", self.data, "-l", self.log_path, "-w", "-t", "60",
            "-o", f"-p {self.port}", "start",
        )  # fmt: skip
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients, clean shutdown; ``immediate``: crash)."""
        self._pg("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")
        self.running = False

    def promote(self) -> None:
        """Turn this standby into a primary (returns once it accepts writes)."""
        self._pg("pg_ctl", "-D", self.data, "-w", "-t", "60", "promote")

    def pid(self) -> int | None:
        """The postmaster's pid while the server runs."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if alive([pid]) else None

    def _pids(self) -> list[int]:
        pid = self.pid()
        return [] if pid is None else [pid, *sorted(descendants(pid))]

    def freeze(self) -> None:
        """SIGSTOP the server and all its backends: it hangs instead of refusing (like a host
        that froze or vanished from the network)."""
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        for pid in self._pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = False

    def ensure_stopped(self, mode: str = "immediate") -> None:
        if self.frozen:
            with contextlib.suppress(OSError):
                self.thaw()
        if self.running or (self.data / "postmaster.pid").exists():
            with contextlib.suppress(StartError, subprocess.TimeoutExpired):
                self.stop(mode)
        self.running = False

    # -- queries
    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL with psql and return the unaligned, tuples-only output."""
        where = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database]
        out = subprocess.run(
            [str(PG_BIN / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql, *where],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if out.returncode != 0:
            raise StartError(f"psql {sql!r} failed: {out.stderr}")
        return out.stdout.strip()

    def create_database(self, name: str | None = None) -> str:
        name = name or f"test_{secrets.token_hex(6)}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def ensure_database(self, name: str) -> None:
        if not name.isidentifier():
            raise ValueError(f"unusable database name {name!r}")
        if not self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):  # noqa: S608
            self.create_database(name)

    def drop_database(self, name: str) -> None:
        with contextlib.suppress(StartError, subprocess.TimeoutExpired):
            self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def wait_replayed(self, standby: PgServer, timeout: float = 30) -> None:
        """Wait until ``standby`` has replayed everything this primary wrote so far."""
        target = self.psql("SELECT pg_current_wal_lsn()")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            behind = standby.psql(f"SELECT pg_wal_lsn_diff('{target}', pg_last_wal_replay_lsn())")
            if behind and float(behind) <= 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"standby {standby.name} did not replay up to {target}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""


@dataclass
class PgPair:
    """A primary and (optionally) its streaming standby."""

    root: Path
    primary: PgServer
    standby: PgServer | None

    def create_database(self) -> str:
        """A fresh database on the primary, present on the standby once this returns."""
        name = self.primary.create_database()
        if self.standby is not None and self.standby.running:
            self.primary.wait_replayed(self.standby)
        return name

    def wait_replayed(self) -> None:
        assert self.standby is not None
        self.primary.wait_replayed(self.standby)

    def multi_host_url(self, database: str) -> str:
        """A writer URL naming both servers: connections go to whichever accepts writes."""
        assert self.standby is not None
        hosts = f"127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
        return f"postgresql+asyncpg://postgres@{hosts}/{database}?target_session_attrs=read-write"

    def start(self, template: Path | None = None) -> None:
        """Start both servers, creating them on first use (data persists in ``root``)."""
        if not self.primary.initialised:
            self.primary.init(template)
        self.primary.start()
        if self.standby is None:
            return
        if self.standby.initialised:
            self.standby.follow(self.primary)
        else:
            self.standby.clone_from(self.primary)
        self.standby.start()

    def stop(self, mode: str = "fast") -> None:
        """Stop the standby, then the primary (each with ``mode``; never raises)."""
        for server in (self.standby, self.primary):
            if server is not None:
                server.ensure_stopped(mode)
