"""S3-compatible blob store (AWS S3, OpenStack Swift ``s3api``, and the like).

Every call goes through one boto3 client in a worker thread (``anyio.to_thread``); boto3
clients are thread-safe. Errors are translated at this boundary: a missing object (or
multipart upload) is ``BlobNotFound``, anything else ``StorageError`` with a short reason;
no botocore exception ever leaves this module.

Besides the ``BlobStore`` interface the store offers multipart uploads (``create_multipart``,
``upload_part``, ``complete_multipart``, ``abort_multipart``, ``list_multipart``): tus staging
streams an upload into the object store with them (``reelstream.ingest.staging.object``).

A failed call (a missing object and an existing bucket aside: answers, not failures) is counted
in ``reelstream_storage_errors_total{op}`` (``op``: the first word of what was being done:
store, read, stat, list, delete, copy, upload, ...), which the object-store alert reads.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import datetime as dt
import functools
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
import boto3  # type: ignore[import-untyped]
import boto3.exceptions  # type: ignore[import-untyped]
import boto3.s3.transfer  # type: ignore[import-untyped]
import botocore.config  # type: ignore[import-untyped]
import botocore.exceptions  # type: ignore[import-untyped]
import urllib3.exceptions

from reelstream.config import Settings
from reelstream.storage.base import BlobInfo, BlobStore
from reelstream.storage.errors import BlobNotFound, StorageError
from reelstream.storage.keys import validate_key

if TYPE_CHECKING:
    from reelstream.observability.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchUpload"})
BUCKET_EXISTS_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
DELETE_BATCH = 1000
"""S3's limit of keys per DeleteObjects request."""

BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    botocore.exceptions.BotoCoreError,
    botocore.exceptions.ClientError,
    boto3.exceptions.Boto3Error,
    urllib3.exceptions.HTTPError,
    OSError,
)


@dataclass(frozen=True)
class MultipartInfo:
    """An unfinished multipart upload as the object store lists it."""

    key: str
    upload_id: str
    initiated: float


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    if isinstance(exc, boto3.exceptions.S3UploadFailedError):
        text = str(exc)
        for code in NOT_FOUND_CODES | {"NoSuchBucket"}:
            if f"({code})" in text:
                return code
    return ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        code = str(err.get("Code", "error"))
        if status == 403 and code in ("403", "Forbidden"):  # HEAD: a status, no error body
            code = "AccessDenied"
        message = err.get("Message", "")
        if status == 403:
            message = f"{message} (check the S3 access and secret keys)".strip()
        return f"{code} (HTTP {status}): {message}"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return "the object store is unreachable"
    if isinstance(
        exc, botocore.exceptions.ConnectTimeoutError | botocore.exceptions.ReadTimeoutError
    ):
        return "the object store did not answer in time"
    return f"{type(exc).__name__}: {exc}"[:300]


def translate(exc: BaseException, what: str, key: str) -> StorageError:
    """Our error for a backend exception raised while doing ``what`` on ``key``."""
    code = _error_code(exc)
    if code in NOT_FOUND_CODES:
        return BlobNotFound(f"no blob {key!r}")
    if code == "NoSuchBucket":
        return StorageError(f"cannot {what} {key!r}: the bucket does not exist")
    return StorageError(f"cannot {what} {key!r}: {_reason(exc)}")


def _add_content_md5(params: dict[str, Any], **_: Any) -> None:
    """Send Content-MD5 with DeleteObjects: stores that predate flexible checksums (Swift's
    s3api among them) require it, and botocore now sends a CRC32 instead by default."""
    body = params.get("body") or b""
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, bytes | bytearray):
        digest = hashlib.md5(body, usedforsecurity=False).digest()
        params["headers"]["Content-MD5"] = base64.b64encode(digest).decode()


def _etag(value: str | None) -> str:
    return (value or "").strip('"')


def _mtime(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return time.time()


class S3BlobStore(BlobStore):
    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        addressing_style: str = "path",
        part_size: int = 8 * 1024**2,
        connect_timeout_s: float = 5,
        read_timeout_s: float = 60,
        max_attempts: int = 4,
        list_page_size: int = 1000,
        metrics: Metrics | None = None,
    ) -> None:
        self.bucket = bucket
        self.metrics = metrics
        self.part_size = part_size
        self.list_page_size = list_page_size
        config = botocore.config.Config(
            region_name=region,
            s3={"addressing_style": addressing_style},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=32,
            # Checksums only where the API demands them: S3-compatible stores (Swift's s3api
            # among them) do not all understand the newer flexible-checksum trailers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )
        self.client.meta.events.register("before-call.s3.DeleteObjects", _add_content_md5)
        self.transfer_config = boto3.s3.transfer.TransferConfig(
            multipart_threshold=part_size,
            multipart_chunksize=part_size,
            max_concurrency=4,
            use_threads=True,
        )

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics | None = None) -> S3BlobStore:
        secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
        return cls(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key=settings.s3_access_key,
            secret_key=secret,
            addressing_style=settings.s3_addressing_style,
            part_size=settings.s3_part_size,
            metrics=metrics,
        )

    async def _run(self, what: str, key: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking backend call in a thread; translate its errors."""
        try:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        except BACKEND_ERRORS as exc:
            error = translate(exc, what, key)
            if self.metrics is not None and not (
                isinstance(error, BlobNotFound) or _error_code(exc) in BUCKET_EXISTS_CODES
            ):
                self.metrics.storage_errors.labels(what.split(" ", 1)[0]).inc()
            raise error from exc

    # -- the BlobStore interface

    def _put_file_sync(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.bucket, key, Config=self.transfer_config)

    async def put_file(self, key: str, path: Path, *, move: bool = False) -> BlobInfo:
        validate_key(key)
        await self._run("store", key, self._put_file_sync, key, path)
        info = await self.stat(key)
        if move:
            try:
                await anyio.Path(path).unlink(missing_ok=True)
            except OSError as exc:
                log.warning("stored %s but could not remove %s: %s", key, path, exc)
        return info

    async def put_bytes(self, key: str, data: bytes) -> BlobInfo:
        validate_key(key)
        resp = await self._run(
            "store", key, self.client.put_object, Bucket=self.bucket, Key=key, Body=data
        )
        return BlobInfo(key=key, size=len(data), etag=_etag(resp.get("ETag")), mtime=time.time())

    async def copy(self, src: str, dest: str) -> BlobInfo:
        """A server-side copy (``CopyObject``): the bytes never pass through this process."""
        validate_key(src)
        validate_key(dest)
        await self._run(
            "copy",
            src,
            self.client.copy_object,
            Bucket=self.bucket,
            Key=dest,
            CopySource={"Bucket": self.bucket, "Key": src},
        )
        return await self.stat(dest)

    async def get_bytes(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.iter_range(key, chunk_size=1024 * 1024)])

    async def stat(self, key: str) -> BlobInfo:
        validate_key(key)
        resp = await self._run("stat", key, self.client.head_object, Bucket=self.bucket, Key=key)
        return BlobInfo(
            key=key,
            size=int(resp["ContentLength"]),
            etag=_etag(resp.get("ETag")),
            mtime=_mtime(resp.get("LastModified")),
        )

    async def iter_range(
        self, key: str, start: int = 0, end: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncIterator[bytes]:
        validate_key(key)
        if end is not None and end < start:
            return
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            resp = await self._run("read", key, self.client.get_object, **params)
        except StorageError as exc:
            cause = exc.__cause__
            if cause is not None and _error_code(cause) == "InvalidRange":
                await self.stat(key)  # 416 on an existing blob: nothing in that range
                return
            raise
        body = resp["Body"]
        try:
            while True:
                chunk = await self._run("read", key, body.read, chunk_size)
                if not chunk:
                    break
                yield chunk
        finally:
            body.close()

    async def list(self, prefix: str) -> list[BlobInfo]:
        validate_key(prefix)

        def pages() -> builtins.list[BlobInfo]:
            paginator = self.client.get_paginator("list_objects_v2")
            out = []
            for page in paginator.paginate(
                Bucket=self.bucket,
                Prefix=prefix + "/",
                PaginationConfig={"PageSize": self.list_page_size},
            ):
                for item in page.get("Contents", ()):
                    out.append(
                        BlobInfo(
                            key=item["Key"],
                            size=int(item["Size"]),
                            etag=_etag(item.get("ETag")),
                            mtime=_mtime(item.get("LastModified")),
                        )
                    )
            return out

        return await self._run("list", prefix, pages)

    async def delete(self, key: str) -> None:
        validate_key(key)
        with contextlib.suppress(BlobNotFound):
            await self._run("delete", key, self.client.delete_object, Bucket=self.bucket, Key=key)

    async def delete_prefix(self, prefix: str) -> int:
        keys = [blob.key for blob in await self.list(prefix)]
        for i in range(0, len(keys), DELETE_BATCH):
            batch = keys[i : i + DELETE_BATCH]
            resp = await self._run(
                "delete under",
                prefix,
                self.client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )
            failed = [e for e in resp.get("Errors", ()) if e.get("Code") != "NoSuchKey"]
            if failed:
                first = failed[0]
                raise StorageError(
                    f"cannot delete {len(failed)} blob(s) under {prefix!r}: "
                    f"{first.get('Key')}: {first.get('Code')} {first.get('Message', '')}".strip()
                )
        return len(keys)

    def local_path(self, key: str) -> Path | None:
        return None

    async def open(self) -> None:
        """Create the bucket when it is missing (tolerating a concurrent creation)."""
        try:
            await self._run(
                "reach bucket", self.bucket, self.client.head_bucket, Bucket=self.bucket
            )
            return
        except BlobNotFound:
            pass
        try:
            await self._run(
                "create bucket", self.bucket, self.client.create_bucket, Bucket=self.bucket
            )
            log.info("created bucket %s", self.bucket)
        except StorageError as exc:
            if exc.__cause__ is None or _error_code(exc.__cause__) not in BUCKET_EXISTS_CODES:
                raise

    async def close(self) -> None:
        self.client.close()

    async def ping(self) -> None:
        await self._run("reach bucket", self.bucket, self.client.head_bucket, Bucket=self.bucket)

    # -- multipart uploads (tus staging)

    async def create_multipart(self, key: str) -> str:
        validate_key(key)
        resp = await self._run(
            "start a multipart upload of",
            key,
            self.client.create_multipart_upload,
            Bucket=self.bucket,
            Key=key,
        )
        return str(resp["UploadId"])

    async def upload_part(self, key: str, upload_id: str, number: int, fh: IO[bytes]) -> str:
        """Upload the open file ``fh`` (from its start) as part ``number``; returns the ETag."""
        validate_key(key)

        def send() -> str:
            fh.seek(0)
            resp = self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=fh
            )
            return str(resp["ETag"])

        return await self._run(f"upload part {number} of", key, send)

    async def put_fileobj(self, key: str, fh: IO[bytes]) -> BlobInfo:
        """Store the open file ``fh`` (from its start, one request) under ``key``."""
        validate_key(key)

        def send() -> BlobInfo:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(0)
            resp = self.client.put_object(Bucket=self.bucket, Key=key, Body=fh)
            return BlobInfo(key=key, size=size, etag=_etag(resp.get("ETag")), mtime=time.time())

        return await self._run("store", key, send)

    async def complete_multipart(
        self, key: str, upload_id: str, parts: builtins.list[tuple[int, str]]
    ) -> BlobInfo:
        """Join ``parts`` (number, ETag) into the blob ``key``."""
        validate_key(key)
        await self._run(
            "complete the multipart upload of",
            key,
            self.client.complete_multipart_upload,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
        )
        return await self.stat(key)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abort a multipart upload; aborting one that is gone is not an error."""
        validate_key(key)
        with contextlib.suppress(BlobNotFound):
            await self._run(
                "abort the multipart upload of",
                key,
                self.client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
            )

    async def list_multipart(self, prefix: str) -> builtins.list[MultipartInfo]:
        """Unfinished multipart uploads of keys under ``prefix + '/'``."""
        validate_key(prefix)

        def pages() -> builtins.list[MultipartInfo]:
            paginator = self.client.get_paginator("list_multipart_uploads")
            out = []
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix + "/"):
                for item in page.get("Uploads", ()):
                    out.append(
                        MultipartInfo(
                            key=item["Key"],
                            upload_id=item["UploadId"],
                            initiated=_mtime(item.get("Initiated")),
                        )
                    )
            return out

        return await self._run("list multipart uploads under", prefix, pages)
