"""The same assertions hold on every blob store backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reelstream.config import Settings
from reelstream.storage import BlobNotFound, BlobStore, InvalidKey
from reelstream.storage.local import LocalBlobStore
from reelstream.storage.memory import MemoryBlobStore
from reelstream.storage.s3 import S3BlobStore


@pytest.fixture(params=["local", "memory", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    backend: BlobStore
    if request.param == "local":
        backend = LocalBlobStore(tmp_path / "root")
    elif request.param == "memory":
        backend = MemoryBlobStore()
    else:  # a real Swift cluster (s3api), a fresh bucket per test
        s3: dict[str, str] = request.getfixturevalue("s3_settings")
        backend = S3BlobStore.from_settings(Settings(**s3, _env_file=None))  # type: ignore[arg-type]
    await backend.open()
    yield backend
    await backend.close()


async def _read(store: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([c async for c in store.iter_range(key, start, end, chunk_size=7)])


async def test_put_get_stat_and_ranges(store: BlobStore) -> None:
    data = bytes(range(256)) * 4
    info = await store.put_bytes("videos/a/r/x/seg.m4s", data)
    assert info.size == len(data)
    assert await store.get_bytes("videos/a/r/x/seg.m4s") == data
    assert (await store.stat("videos/a/r/x/seg.m4s")).etag == info.etag
    assert await _read(store, "videos/a/r/x/seg.m4s") == data
    assert await _read(store, "videos/a/r/x/seg.m4s", 10, 19) == data[10:20]
    assert await _read(store, "videos/a/r/x/seg.m4s", 1000) == data[1000:]


async def test_etag_changes_with_content(store: BlobStore) -> None:
    first = await store.put_bytes("k/a", b"one")
    second = await store.put_bytes("k/a", b"two!")
    assert first.etag != second.etag


async def test_put_file_copy_and_move(store: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 1000)
    await store.put_file("videos/v/source", src)
    assert src.exists()
    await store.put_file("videos/w/source", src, move=True)
    assert not src.exists()
    assert await store.get_bytes("videos/w/source") == b"x" * 1000


async def test_copy_is_independent_of_its_source(store: BlobStore) -> None:
    await store.put_bytes("videos/c/r/1/v240/seg_00001.m4s", b"segment bytes")
    info = await store.copy("videos/c/r/1/v240/seg_00001.m4s", "videos/c/r/2/v240/seg_00001.m4s")
    assert info.key == "videos/c/r/2/v240/seg_00001.m4s" and info.size == 13
    await store.delete_prefix("videos/c/r/1")
    assert await store.get_bytes("videos/c/r/2/v240/seg_00001.m4s") == b"segment bytes"
    await store.put_bytes("videos/c/r/2/v240/seg_00001.m4s", b"replaced")
    with pytest.raises(BlobNotFound):
        await store.stat("videos/c/r/1/v240/seg_00001.m4s")
    with pytest.raises(BlobNotFound):
        await store.copy("videos/c/r/9/missing", "videos/c/r/2/x")


async def test_list_and_delete_prefix(store: BlobStore) -> None:
    for key in (
        "videos/a/r/1/m.m3u8",
        "videos/a/r/1/v/s.m4s",
        "videos/a/r/2/m.m3u8",
        "videos/ab/x",
    ):
        await store.put_bytes(key, b"1")
    keys = [b.key for b in await store.list("videos/a")]
    assert keys == ["videos/a/r/1/m.m3u8", "videos/a/r/1/v/s.m4s", "videos/a/r/2/m.m3u8"]
    assert await store.delete_prefix("videos/a/r/1") == 2
    assert [b.key for b in await store.list("videos/a")] == ["videos/a/r/2/m.m3u8"]
    assert [b.key for b in await store.list("videos/ab")] == ["videos/ab/x"]


async def test_missing_blob_raises_our_error(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        await store.stat("videos/none")
    with pytest.raises(BlobNotFound):
        await store.get_bytes("videos/none")
    await store.delete("videos/none")  # deleting a missing blob is fine


@pytest.mark.parametrize(
    "key", ["", "../x", "a/../../x", "/etc/passwd", "a//b", ".hidden", "a/b\\c", "a/..", "a/b c"]
)
async def test_keys_that_could_escape_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        await store.put_bytes(key, b"x")


def test_local_store_never_writes_outside_its_root(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    with pytest.raises(InvalidKey):
        store.local_path("../outside")
    assert store.local_path("videos/a/source") == (tmp_path / "root/videos/a/source").resolve()


async def test_fetch_to_copies_a_blob_into_a_local_file(store: BlobStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * 2000
    await store.put_bytes("videos/a/source", data)
    dest = tmp_path / "copy"
    await store.fetch_to("videos/a/source", dest)
    assert dest.read_bytes() == data
    with pytest.raises(BlobNotFound):
        await store.fetch_to("videos/none", tmp_path / "missing")
