"""What only the S3 backend does, against real Swift (s3api, 3 replicas): multipart puts,
streamed ranges, paginated listing, batched deletes, error mapping, losing a replica."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import botocore.exceptions  # type: ignore[import-untyped]
import pytest

from reelstream.config import Settings
from reelstream.devcluster.process import free_port
from reelstream.observability.metrics import Metrics
from reelstream.storage import BlobNotFound, StorageError
from reelstream.storage import s3 as s3_mod
from reelstream.storage.s3 import S3BlobStore
from tests.fixtures.s3 import SwiftCluster

PART = 5 * 1024 * 1024


def make_store(s3_settings: dict[str, str], **overrides: Any) -> S3BlobStore:
    settings = Settings(
        s3_part_size=PART,
        _env_file=None,
        **{**s3_settings, **overrides},
    )
    return S3BlobStore.from_settings(settings)


@pytest.fixture
async def store(s3_settings: dict[str, str]) -> AsyncIterator[S3BlobStore]:
    st = make_store(s3_settings)
    await st.open()
    yield st
    await st.close()


async def test_open_creates_the_bucket_once(
    s3_settings: dict[str, str], swift: SwiftCluster
) -> None:
    first, second = make_store(s3_settings), make_store(s3_settings)
    await first.open()
    await second.open()  # already there: fine
    names = [b["Name"] for b in swift.client().list_buckets()["Buckets"]]
    assert s3_settings["s3_bucket"] in names
    await first.ping()


async def test_large_file_goes_up_in_parts(store: S3BlobStore, tmp_path: Path) -> None:
    data = os.urandom(2 * PART + 4321)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    info = await store.put_file("videos/v/source", src, move=True)
    assert not src.exists()
    assert info.size == len(data)
    assert info.etag.endswith("-3"), f"not a 3-part multipart object: {info.etag}"
    got = await store.get_bytes("videos/v/source")
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    # a range across the part boundary
    ranged = [c async for c in store.iter_range("videos/v/source", PART - 10, PART + 9)]
    assert b"".join(ranged) == data[PART - 10 : PART + 10]


async def test_ranges_are_streamed_in_chunks(store: S3BlobStore) -> None:
    data = os.urandom(300_000)
    await store.put_bytes("k/blob", data)
    chunks = [c async for c in store.iter_range("k/blob", 1000, 250_999, chunk_size=64 * 1024)]
    assert b"".join(chunks) == data[1000:251_000]
    assert len(chunks) > 3 and all(len(c) <= 64 * 1024 for c in chunks)
    assert b"".join([c async for c in store.iter_range("k/blob", 299_990)]) == data[-10:]
    assert b"".join([c async for c in store.iter_range("k/blob", 299_000, 10**9)]) == data[-1000:]
    assert [c async for c in store.iter_range("k/blob", 300_000)] == []  # past the end
    with pytest.raises(BlobNotFound):
        [c async for c in store.iter_range("k/none", 5, 10)]


async def test_listing_follows_pages_and_deletes_in_batches(
    s3_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(s3_settings)
    store.list_page_size = 25
    await store.open()
    keys = sorted(f"videos/p/r/1/seg_{i:05d}.m4s" for i in range(90))
    for key in keys:
        await store.put_bytes(key, key.encode())
    await store.put_bytes("videos/p2/other", b"x")
    listed = await store.list("videos/p")
    assert [b.key for b in listed] == keys
    assert all(b.size == len(b.key) and b.etag for b in listed)

    monkeypatch.setattr(s3_mod, "DELETE_BATCH", 40)
    assert await store.delete_prefix("videos/p") == 90
    assert await store.list("videos/p") == []
    assert [b.key for b in await store.list("videos/p2")] == ["videos/p2/other"]


async def test_errors_are_ours(
    store: S3BlobStore, s3_settings: dict[str, str], swift: SwiftCluster
) -> None:
    with pytest.raises(BlobNotFound):
        await store.stat("videos/none")
    with pytest.raises(BlobNotFound):
        await store.get_bytes("videos/none")
    await store.abort_multipart("videos/none", "no-such-upload")  # gone already: fine
    with pytest.raises(BlobNotFound):
        await store.upload_part("videos/none", "no-such-upload", 1, io.BytesIO(b"x"))

    wrong_key = make_store(s3_settings, s3_secret_key="not-the-secret")
    with pytest.raises(StorageError) as err:
        await wrong_key.stat("videos/x")
    assert type(err.value) is StorageError and "HTTP 403" in err.value.message
    with pytest.raises(StorageError, match="SignatureDoesNotMatch"):
        await wrong_key.get_bytes("videos/x")

    no_bucket = make_store(s3_settings, s3_bucket="rs-never-created")
    with pytest.raises(StorageError, match="bucket does not exist"):
        await no_bucket.put_bytes("videos/x", b"1")

    down = S3BlobStore(
        bucket="any",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key="a",
        secret_key="b",
        connect_timeout_s=1,
        max_attempts=1,
    )
    for call in (down.ping(), down.put_bytes("videos/x", b"1"), down.list("videos")):
        with pytest.raises(StorageError, match="unreachable") as caught:
            await call
        assert type(caught.value) is StorageError
        assert not isinstance(caught.value.__cause__, StorageError)  # translated, chained


@pytest.mark.parametrize("lost", [1, 2, 3])
async def test_losing_one_of_three_object_servers(
    store: S3BlobStore, swift: SwiftCluster, tmp_path: Path, lost: int
) -> None:
    before = os.urandom(100_000)
    await store.put_bytes("videos/r/before", before)
    swift.stop_object_server(lost)
    try:
        data = os.urandom(PART + 1000)
        src = tmp_path / "src.bin"
        src.write_bytes(data)
        await store.put_file("videos/r/big", src)  # multipart, with a replica holder gone
        await store.put_bytes("videos/r/small", b"still writable")
        assert await store.get_bytes("videos/r/before") == before
        assert await store.get_bytes("videos/r/big") == data
        assert await store.get_bytes("videos/r/small") == b"still writable"
        assert [b.key for b in await store.list("videos/r")] == [
            "videos/r/before",
            "videos/r/big",
            "videos/r/small",
        ]
        assert (await store.stat("videos/r/big")).size == len(data)
        await store.delete("videos/r/small")
        with pytest.raises(BlobNotFound):
            await store.stat("videos/r/small")
    finally:
        swift.start_object_server(lost)
    # back with three: what was written meanwhile still reads
    assert await store.get_bytes("videos/r/big") == data


async def test_failed_calls_are_counted_by_operation() -> None:
    """``reelstream_storage_errors_total{op}`` (the object store alert): every failed call,
    by the operation's first word; a missing object is an answer, not a failure."""
    metrics = Metrics()
    down = S3BlobStore(
        bucket="any",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key="a",
        secret_key="b",
        connect_timeout_s=1,
        max_attempts=1,
        metrics=metrics,
    )
    for call in (down.ping(), down.put_bytes("videos/x", b"1"), down.list("videos")):
        with pytest.raises(StorageError):
            await call

    def missing() -> None:
        raise botocore.exceptions.ClientError({"Error": {"Code": "NoSuchKey"}}, "HeadObject")

    with pytest.raises(BlobNotFound):
        await down._run("stat", "videos/none", missing)

    def count(op: str) -> float | None:
        return metrics.registry.get_sample_value("reelstream_storage_errors_total", {"op": op})

    assert (count("reach"), count("store"), count("list")) == (1, 1, 1)
    assert count("stat") is None
