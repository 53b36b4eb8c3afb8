"""A worker's scratch disk that can fill up: a small tmpfs mounted on the worker's transcode
work folder (``<data_dir>/roles/<worker>/work``, ``Settings.work_dir`` of the role) before the
worker starts, a ballast file that takes every free byte on the fault, removed on heal.

A tmpfs, not a loop device: ``mount -t tmpfs -o size=`` needs no image file and no mkfs, and a
full tmpfs fails writes with ENOSPC exactly as a full disk does. Needs root (``mount``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

BALLAST = ".chaos-ballast"


def work_dir(data_dir: Path, worker: str) -> Path:
    """Where ``reelstream worker --data-dir <data_dir>/roles/<worker>`` transcodes."""
    return data_dir / "roles" / worker / "work"


def can_mount() -> bool:
    return os.geteuid() == 0


@dataclass
class Scratch:
    """The tmpfs of one worker."""

    path: Path
    size_mb: int
    mounted: bool = False

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                f"size={self.size_mb}m,mode=0755",
                "tmpfs",
                str(self.path),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        self.mounted = True

    def unmount(self) -> None:
        if not self.mounted:
            return
        self.empty()
        out = subprocess.run(
            ["umount", str(self.path)], capture_output=True, timeout=30, check=False
        )
        if out.returncode != 0:  # busy (a process still has a file open): detach it lazily
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=30)
        self.mounted = False

    @property
    def ballast(self) -> Path:
        return self.path / BALLAST

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self) -> int:
        """Take every free byte with the ballast file (fallocate, then writes until ENOSPC
        for what a growing transcode left); return the ballast's size."""
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            with contextlib.suppress(OSError):
                os.posix_fallocate(fd, os.fstat(fd).st_size, max(1, self.free_bytes()))
            chunk = b"\0" * (1 << 20)
            for _ in range(self.size_mb + 2):  # bounded: the disk is size_mb
                try:
                    os.write(fd, chunk)
                except OSError:
                    break
        finally:
            os.close(fd)
        return self.ballast.stat().st_size

    def empty(self) -> bool:
        """Remove the ballast; whether there was one."""
        try:
            self.ballast.unlink()
        except FileNotFoundError:
            return False
        return True


def is_mount(path: Path) -> bool:
    return path.is_mount()
