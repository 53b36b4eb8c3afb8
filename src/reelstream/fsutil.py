"""File-system helpers: durable writes (what is acknowledged must survive a crash), folders."""

from __future__ import annotations

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
