"""Spawning, waiting for and stopping the server processes of the local cluster.

Every process gets its own session (``start_new_session``): a Ctrl-C in the terminal reaches the
supervisor only, which then stops its children in order instead of all of them at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

AS_ROOT = os.geteuid() == 0


class StartError(RuntimeError):
    """A server did not start (the message carries the tail of its log)."""


_HANDED_OUT: set[int] = set()  # every port ``free_port`` gave in this process
_HANDED_OUT_LOCK = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it) that this process has not handed
    out before. A port is picked for a role before the role starts; until it binds, the OS may
    give the same port to the next ``bind(0)``: a fault proxy that then listened on its own
    target's port would forward to itself. Whoever takes ports through here never collides."""
    with _HANDED_OUT_LOCK:
        for _ in range(100):
            with socket.socket() as s:
                s.bind((host, 0))
                port = int(s.getsockname()[1])
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port
    raise StartError("no port left that this process has not handed out already")


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` can be bound on ``host`` now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def which(name: str) -> str | None:
    """The path of a program on ``PATH`` (or ``name`` itself when it is a file)."""
    return shutil.which(name) or (name if Path(name).is_file() else None)


def tail(path: Path, size: int = 3000) -> str:
    """The last ``size`` characters of a log file ("" when there is none)."""
    if not path.exists():
        return ""
    return path.read_text(errors="replace")[-size:]


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session with stdout and stderr appended to ``log_path``
    (as ``user`` when given: the caller must be root then)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            user=user,
            start_new_session=True,
        )


def stop_process(
    proc: subprocess.Popen[bytes],
    timeout: float = 20,
    signals: Iterable[signal.Signals] = (signal.SIGTERM,),
) -> None:
    """Send each signal in turn (waiting ``timeout`` after each), then SIGKILL; reap it."""
    for sig in (*signals, signal.SIGKILL):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def stop_all(procs: Iterable[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM every process at once, wait up to ``timeout`` for all, then SIGKILL the rest.

    Each process leads its own session (``spawn``), so whatever it left behind in its process
    group (an ffmpeg child of a worker, say) is killed with it."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    failed: Callable[[], str | None] = lambda: None,
    interval: float = 0.1,
) -> None:
    """Poll ``ready`` until it is true; ``failed`` returns a reason to give up early."""
    deadline = time.monotonic() + timeout
    while True:
        reason = failed()
        if reason:
            raise StartError(f"{what}: {reason}")
        with contextlib.suppress(Exception):
            if ready():
                return
        if time.monotonic() > deadline:
            raise StartError(f"{what}: not ready within {timeout:.0f} s")
        time.sleep(interval)


def exited(proc: subprocess.Popen[bytes], log_path: Path) -> Callable[[], str | None]:
    """A ``failed`` callback for ``wait_until``: the process exited (with its log tail)."""

    def check() -> str | None:
        if proc.poll() is None:
            return None
        return f"exited with code {proc.returncode}:\n{tail(log_path)}"

    return check


def _ppid_and_state(pid: int) -> tuple[int, str] | None:
    """``(parent pid, state letter)`` from ``/proc/<pid>/stat``; None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    return int(fields[1]), fields[0]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, grandchildren, ...), from ``/proc``."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _ppid_and_state(int(entry.name))
            if info is not None:
                parents.setdefault(info[0], []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def process_tree(pids: Iterable[int]) -> set[int]:
    """The given pids that are alive, and all their descendants."""
    found: set[int] = set()
    for pid in alive(pids):
        found.add(pid)
        found |= descendants(pid)
    return found


def alive(pids: Iterable[int]) -> list[int]:
    """The pids among ``pids`` that still run (zombies count as gone)."""
    running = []
    for pid in pids:
        info = _ppid_and_state(pid)
        if info is not None and info[1] not in ("Z", "X"):
            running.append(pid)
    return running
