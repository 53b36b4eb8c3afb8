"""File-system helpers: durable writes (what is acknowledged must survive a crash), folders,
and an exclusive lock held by one process at a time (``FileLock``)."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


def remove_tree(path: Path) -> None:
    """Remove a folder and everything in it; a missing folder is fine (blocking)."""
    shutil.rmtree(path, ignore_errors=True)


def fresh_dir(path: Path) -> None:
    """An empty folder at ``path``, whatever was there before (blocking)."""
    remove_tree(path)
    path.mkdir(parents=True)


class FileLock:
    """An exclusive ``flock`` on ``path``, taken without waiting (``try_acquire``).

    The kernel releases it when the holder closes it or dies (even by SIGKILL), so whoever
    asks next gets it: the takeover needs no timeout and no stale-lock clean-up. The
    descriptor is not inherited by child processes (Python opens files non-inheritable), so an
    ffmpeg started by the holder never keeps the lock alive after the holder died.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True if this object holds it now."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
