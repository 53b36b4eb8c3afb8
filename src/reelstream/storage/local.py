"""Local-disk blob store: files under a root folder, written atomically and fsynced."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat as stat_mode
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from reelstream.fsutil import fsync_dir, fsync_file
from reelstream.storage.base import BlobInfo, BlobStore
from reelstream.storage.errors import BlobNotFound, StorageError
from reelstream.storage.keys import validate_key

STAT_MEMO_MAX = 16_384
"""Keys whose last ``stat`` is remembered (about 300 bytes each)."""


class LocalBlobStore(BlobStore):
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._root_prefix = os.fspath(self.root) + os.sep
        self._stats: dict[str, tuple[int, int, int, BlobInfo]] = {}
        """Valid keys already stat'ed: (inode, size, mtime_ns) and the ``BlobInfo`` built."""

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _info(self, key: str, path: Path | str) -> BlobInfo:
        try:
            st = os.stat(path)
        except FileNotFoundError as exc:
            raise BlobNotFound(f"no blob {key!r}") from exc
        except OSError as exc:
            raise StorageError(f"cannot stat {key!r}: {exc}") from exc
        return self._info_of(key, st)

    @staticmethod
    def _info_of(key: str, st: os.stat_result) -> BlobInfo:
        tag = hashlib.blake2b(f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}".encode(), digest_size=8)
        return BlobInfo(key=key, size=st.st_size, etag=tag.hexdigest(), mtime=st.st_mtime)

    def _put_file_sync(self, key: str, src: Path, move: bool) -> BlobInfo:
        dest = self._path(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
            if move:
                fsync_file(src)
                try:
                    os.replace(src, dest)
                except OSError:  # another filesystem: copy instead
                    shutil.copyfile(src, tmp)
                    fsync_file(tmp)
                    os.replace(tmp, dest)
                    src.unlink()
            else:
                shutil.copyfile(src, tmp)
                fsync_file(tmp)
                os.replace(tmp, dest)
            fsync_dir(dest.parent)
        except OSError as exc:
            raise StorageError(f"cannot store {key!r}: {exc}") from exc
        return self._info(key, dest)

    async def put_file(self, key: str, path: Path, *, move: bool = False) -> BlobInfo:
        return await anyio.to_thread.run_sync(self._put_file_sync, key, path, move)

    def _put_bytes_sync(self, key: str, data: bytes) -> BlobInfo:
        dest = self._path(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
            fsync_dir(dest.parent)
        except OSError as exc:
            raise StorageError(f"cannot store {key!r}: {exc}") from exc
        return self._info(key, dest)

    async def put_bytes(self, key: str, data: bytes) -> BlobInfo:
        return await anyio.to_thread.run_sync(self._put_bytes_sync, key, data)

    def _copy_sync(self, src: str, dest: str) -> BlobInfo:
        """A hard link: blobs are never rewritten in place (every write replaces the file), so
        two names may share one inode; a copy where links are not possible."""
        source, target = self._path(src), self._path(dest)
        if not source.is_file():
            raise BlobNotFound(f"no blob {src!r}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
            tmp.unlink(missing_ok=True)
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
                fsync_file(tmp)
            os.replace(tmp, target)
            fsync_dir(target.parent)
        except OSError as exc:
            raise StorageError(f"cannot copy {src!r} to {dest!r}: {exc}") from exc
        return self._info(dest, target)

    async def copy(self, src: str, dest: str) -> BlobInfo:
        return await anyio.to_thread.run_sync(self._copy_sync, src, dest)

    async def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await anyio.Path(path).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(f"no blob {key!r}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc

    async def stat(self, key: str) -> BlobInfo:
        """One ``os.stat`` on a string path, in the event loop: a cached inode answers in
        microseconds, less than a hop to a worker thread and back (the origin stats every
        request)."""
        known = self._stats.get(key)
        if known is None:
            validate_key(key)
        try:
            st = os.stat(self._root_prefix + key)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise BlobNotFound(f"no blob {key!r}") from exc
        except OSError as exc:
            raise StorageError(f"cannot stat {key!r}: {exc}") from exc
        if not stat_mode.S_ISREG(st.st_mode):
            raise BlobNotFound(f"no blob {key!r}")
        if (
            known is not None
            and known[0] == st.st_ino
            and known[1] == st.st_size
            and known[2] == st.st_mtime_ns
        ):
            return known[3]  # the same version: the same ETag, without hashing again
        info = self._info_of(key, st)
        if len(self._stats) >= STAT_MEMO_MAX:
            self._stats.clear()
        self._stats[key] = (st.st_ino, st.st_size, st.st_mtime_ns, info)
        return info

    async def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            fh = await anyio.open_file(path, "rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(f"no blob {key!r}") from exc
        async with fh:
            await fh.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                n = chunk_size if remaining is None else min(chunk_size, remaining)
                chunk = await fh.read(n)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def _list_sync(self, prefix: str) -> list[BlobInfo]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        out = []
        for p in sorted(base.rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                key = p.relative_to(self.root).as_posix()
                out.append(self._info(key, p))
        return out

    async def list(self, prefix: str) -> list[BlobInfo]:
        return await anyio.to_thread.run_sync(self._list_sync, prefix)

    async def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r}: {exc}") from exc

    def _delete_prefix_sync(self, prefix: str) -> int:
        base = self._path(prefix)
        if not base.exists():
            return 0
        n = sum(1 for p in base.rglob("*") if p.is_file())
        shutil.rmtree(base, ignore_errors=True)
        return n

    async def delete_prefix(self, prefix: str) -> int:
        return await anyio.to_thread.run_sync(self._delete_prefix_sync, prefix)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    async def ping(self) -> None:
        probe = self.root / ".ping"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise StorageError(f"storage root {self.root} is not writable: {exc}") from exc
