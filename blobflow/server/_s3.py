"""S3-compatible object storage (``--storage s3://bucket/prefix``) through aiobotocore.

Endpoint, region and credentials come from the standard AWS settings (``AWS_ENDPOINT_URL``,
``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, profiles...), as for
any AWS client. Keys are ``<prefix>/<relpath>`` with the relative paths of ``_storage``.

Uploads stream: parts of :data:`PART_SIZE` go out as a multipart upload while the next part
arrives (one in flight), sha256 taken on the way; an upload smaller than one part is a single
PUT at commit. Either way the object exists only once complete: an interrupted multipart upload
is invisible, and :meth:`S3Storage.sweep` aborts it later. Content-addressed uploads are
named by their hash, known only at the end: a large one is assembled under ``tmp/`` and
copied into place. Downloads and ``Range`` requests are ranged GETs, streamed.

An unreachable or failing store is :class:`Unavailable` (503): connect and read timeouts,
few retries, never a hang.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AsyncExitStack
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import aiohttp
import botocore.exceptions
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from aiohttp import web

from blobflow._errors import BlobflowError
from blobflow.server._errors import NotFound, RequestTooLarge, Unavailable
from blobflow.server._http import RateShaper, send_stream
from blobflow.server._storage import BlobStore, Upload

__all__ = ["S3Storage", "PART_SIZE"]

T = TypeVar("T")

#: Multipart part size (S3's minimum for all parts but the last is 5 MiB).
PART_SIZE = 8 << 20
_READ_CHUNK = 1 << 20
# Ranges of one object closer than this are fetched with one GET and sliced.
_MERGE_GAP = 1 << 20
_MAX_SPAN = 64 << 20
_PARALLEL_GETS = 16
_DOWN = (
    botocore.exceptions.HTTPClientError,  # connect/read timeouts, closed connections
    botocore.exceptions.EndpointConnectionError,
    aiohttp.ClientError,
    OSError,
    asyncio.TimeoutError,
)


def _unavailable(exc: BaseException) -> Unavailable:
    return Unavailable(f"object store unavailable: {type(exc).__name__}: {exc}")


async def _call(aw: Awaitable[T]) -> T:
    """One S3 call; an unreachable or failing (5xx) store is :class:`Unavailable`."""
    try:
        return await aw
    except _DOWN as exc:
        raise _unavailable(exc) from exc
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in ("NoSuchKey", "404"):
            raise NotFound("stored object not found") from exc
        if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "NoSuchBucket"):
            raise _unavailable(exc) from exc
        raise


def _started(upload: dict[str, Any]) -> datetime:
    """When a multipart upload began: from its key (``tmp/<unix time>-<name>``), else as the
    store reports it."""
    stamp = upload["Key"].rpartition("/")[2].partition("-")[0]
    if stamp.isdigit():
        return datetime.fromtimestamp(int(stamp), timezone.utc)
    started: datetime = upload["Initiated"]
    return started


class S3Upload(Upload):
    """One upload: buffered up to a part, then a multipart upload with one part in flight."""

    def __init__(self, store: S3Storage, max_bytes: int) -> None:
        self._store = store
        self._max = max_bytes
        self._digest = hashlib.sha256()
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._name = uuid.uuid4().hex
        self._key: str | None = None  # where the multipart upload assembles, once started
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._in_flight: asyncio.Task[None] | None = None
        self.size = 0

    @property
    def hash(self) -> str:
        return base64.standard_b64encode(self._digest.digest()).decode()

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._max:
            raise RequestTooLarge(f"upload exceeds the limit of {self._max} bytes")
        self._digest.update(chunk)
        self._buffer.append(chunk)
        self._buffered += len(chunk)
        if self._buffered >= PART_SIZE:
            await self._send_part(self._take())

    def _take(self) -> bytes:
        data = b"".join(self._buffer)
        self._buffer, self._buffered = [], 0
        return data

    async def _send_part(self, data: bytes) -> None:
        if self._upload_id is None:
            # The start time in the name: sweeps age uploads by it (some S3-compatible
            # servers report no useful "Initiated" time).
            self._key = f"tmp/{int(time.time())}-{self._name}"
            started = await _call(self._store.client.create_multipart_upload(
                Bucket=self._store.bucket, Key=self._store.key(self._key)
            ))
            self._upload_id = started["UploadId"]
        await self._wait_in_flight()
        number = len(self._parts) + 1
        self._parts.append({"PartNumber": number})
        self._in_flight = asyncio.ensure_future(self._upload_part(number, data))

    async def _upload_part(self, number: int, data: bytes) -> None:
        done = await _call(self._store.client.upload_part(
            Bucket=self._store.bucket, Key=self._store.key(self._key or ""),
            UploadId=self._upload_id, PartNumber=number, Body=data,
        ))
        self._parts[number - 1]["ETag"] = done["ETag"]

    async def _wait_in_flight(self) -> None:
        task, self._in_flight = self._in_flight, None
        if task is not None:
            await task

    async def _finish(self, final: str) -> None:
        """Put the upload at ``final``: one PUT, or complete the multipart upload and copy."""
        s3, bucket = self._store.client, self._store.bucket
        if self._upload_id is None:
            await _call(s3.put_object(Bucket=bucket, Key=self._store.key(final), Body=self._take()))
            return
        if self._buffered:
            await self._send_part(self._take())
        await self._wait_in_flight()
        tmp = self._store.key(self._key or "")
        await _call(s3.complete_multipart_upload(
            Bucket=bucket, Key=tmp, UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        ))
        self._upload_id = None
        try:
            await self._store.copy(tmp, self._store.key(final), self.size)
        finally:
            await _call(s3.delete_object(Bucket=bucket, Key=tmp))

    async def commit_object(self) -> str:
        relpath = f"objects/{self._name[:2]}/{self._name}"
        await self._finish(relpath)
        return relpath

    async def commit_content(self) -> str:
        hexdigest = self._digest.hexdigest()
        relpath = f"images/{hexdigest[:2]}/{hexdigest}"
        await self._finish(relpath)
        return relpath

    async def abort(self) -> None:
        self._buffer, self._buffered = [], 0
        task, self._in_flight = self._in_flight, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None:
            with contextlib.suppress(Unavailable):  # invisible anyway; a later sweep aborts it
                await _call(self._store.client.abort_multipart_upload(
                    Bucket=self._store.bucket, Key=self._store.key(self._key or ""),
                    UploadId=upload_id,
                ))


class S3Storage(BlobStore):
    """A bucket (and a key prefix) shared by every node."""

    sweep_grace_s = 3600.0

    def __init__(self, url: str, *, sweep_grace_s: float | None = None) -> None:
        bucket, _, prefix = url[len("s3://"):].partition("/")
        if not bucket:
            raise BlobflowError(f"--storage {url!r} names no bucket (s3://bucket/prefix)")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if sweep_grace_s is not None:
            self.sweep_grace_s = sweep_grace_s
        self._stack = AsyncExitStack()
        self._client: Any = None

    def key(self, relpath: str) -> str:
        return f"{self.prefix}/{relpath}" if self.prefix else relpath

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError("object store is not open")
        return self._client

    async def prepare(self) -> None:
        if self._client is None:
            config = AioConfig(
                connect_timeout=5, read_timeout=30, max_pool_connections=64,
                retries={"max_attempts": 3, "mode": "standard"},
            )
            self._client = await self._stack.enter_async_context(
                get_session().create_client("s3", config=config)
            )
        await self.ping()

    async def ping(self) -> None:
        await _call(asyncio.wait_for(self.client.head_bucket(Bucket=self.bucket), 10))

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()

    async def open_temp(self, max_bytes: int) -> Upload:
        return S3Upload(self, max_bytes)

    async def copy(self, source: str, target: str, size: int) -> None:
        """Server-side copy (one request up to 5 GiB, else part by part)."""
        if size <= 5 << 30:
            await _call(self.client.copy_object(
                Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source}
            ))
            return
        started = await _call(self.client.create_multipart_upload(Bucket=self.bucket, Key=target))
        parts = []
        step = 1 << 30
        for number, start in enumerate(range(0, size, step), start=1):
            done = await _call(self.client.upload_part_copy(
                Bucket=self.bucket, Key=target, UploadId=started["UploadId"], PartNumber=number,
                CopySource={"Bucket": self.bucket, "Key": source},
                CopySourceRange=f"bytes={start}-{min(start + step, size) - 1}",
            ))
            parts.append({"PartNumber": number, "ETag": done["CopyPartResult"]["ETag"]})
        await _call(self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=target, UploadId=started["UploadId"],
            MultipartUpload={"Parts": parts},
        ))

    async def _get(self, relpath: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        resp = await _call(self.client.get_object(
            Bucket=self.bucket, Key=self.key(relpath), Range=f"bytes={start}-{end - 1}"
        ))
        async with resp["Body"] as body:
            data: bytes = await _call(body.read())
        return data

    async def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> list[bytes]:
        """Neighbouring ranges of one object come from one ranged GET; GETs run in parallel."""
        order = sorted(range(len(ranges)), key=lambda i: (ranges[i][0], ranges[i][1]))
        spans: list[tuple[str, int, int, list[int]]] = []
        for i in order:
            relpath, start, end = ranges[i]
            if spans:
                path, s, e, members = spans[-1]
                if path == relpath and start - e <= _MERGE_GAP and max(e, end) - s <= _MAX_SPAN:
                    spans[-1] = (path, s, max(e, end), [*members, i])
                    continue
            spans.append((relpath, start, end, [i]))
        limit = asyncio.Semaphore(_PARALLEL_GETS)

        async def fetch(relpath: str, start: int, end: int) -> bytes:
            async with limit:
                return await self._get(relpath, start, end)

        datas = await asyncio.gather(*(fetch(p, s, e) for p, s, e, _ in spans))
        out: list[bytes] = [b""] * len(ranges)
        for (_, s, _, members), data in zip(spans, datas, strict=True):
            for i in members:
                _, start, end = ranges[i]
                out[i] = data[start - s : end - s]
        return out

    async def remove(self, relpaths: Sequence[str]) -> None:
        keys = [{"Key": self.key(p)} for p in relpaths]
        for i in range(0, len(keys), 1000):
            await _call(self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": keys[i : i + 1000], "Quiet": True}
            ))

    async def sweep(self, known: set[str]) -> int:
        """Objects no row knows and unfinished multipart uploads, once older than
        :attr:`sweep_grace_s` (younger ones may belong to another node's upload in flight)."""
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=self.sweep_grace_s)
        root = self.key("")
        orphans: list[str] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=root
        )
        try:
            async for page in pages:
                for obj in page.get("Contents", []):
                    relpath = obj["Key"][len(root):]
                    if relpath not in known and obj["LastModified"] <= cutoff:
                        orphans.append(relpath)
            uploads = await _call(self.client.list_multipart_uploads(
                Bucket=self.bucket, Prefix=root
            ))
        except _DOWN as exc:
            raise _unavailable(exc) from exc
        await self.remove(orphans)
        stale = [u for u in uploads.get("Uploads", []) if _started(u) <= cutoff]
        for u in stale:
            await _call(self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=u["Key"], UploadId=u["UploadId"]
            ))
        return len(orphans) + len(stale)

    async def send(
        self,
        request: web.Request,
        relpath: str,
        size: int,
        *,
        checksum: str | None = None,
        shaper: RateShaper | None = None,
    ) -> web.StreamResponse:
        async def read(start: int, end: int) -> AsyncIterator[bytes]:
            resp = await _call(self.client.get_object(
                Bucket=self.bucket, Key=self.key(relpath), Range=f"bytes={start}-{end - 1}"
            ))
            async with resp["Body"] as body:
                while chunk := await _call(body.read(_READ_CHUNK)):
                    yield chunk

        return await send_stream(request, size, read, checksum=checksum, shaper=shaper)
