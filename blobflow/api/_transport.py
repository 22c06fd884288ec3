"""The HTTP layer: one pooled aiohttp session, retries with a budget, verified streams.

Everything above this module talks to the :class:`Transport` protocol only, so a fake
transport (a dict of canned answers) is enough to test a group without HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

import aiofiles
import aiohttp

from blobflow import _json
from blobflow._config import TransferConfig
from blobflow._errors import BlobflowError, IntegrityError
from blobflow._hash import b64_digest, b64_sha256
from blobflow.api._errors import ApiError, RetryBudgetExceeded, error_from_response
from blobflow.api._progress import Progress

__all__ = [
    "Transport",
    "HttpTransport",
    "DownloadedFile",
    "BodyFactory",
    "UploadSource",
    "b64_sha256",
    "b64_digest",
    "BodyCounter",
    "file_body",
]

T = TypeVar("T")

#: Builds a fresh request body for each attempt (bytes, aiohttp FormData or a Payload).
BodyFactory = Callable[[], Any]
#: A seekable file (sent with Content-Length, re-read on every attempt) or a body factory.
UploadSource = str | os.PathLike[str] | BodyFactory

_RETRY_STATUSES = frozenset({408, 429, 499})
_NO_RETRY_5XX = frozenset({501, 505})
_AGENT_NOT_READY = (
    "Agent should call AgentConnected or AgentPing before attempting any other request"
)


@dataclass(frozen=True)
class DownloadedFile:
    """A streamed download, complete and verified, under its final name."""

    path: Path
    size: int
    sha256_b64: str
    #: True when the server sent ``x-content-checksum-sha256`` and it matched.
    checksum_verified: bool


class Transport(Protocol):
    """What the API groups need from the wire."""

    async def post_json(
        self, method: str, body: Any, *, params: Mapping[str, Any] | None = None
    ) -> Any: ...

    async def post_multipart_parts(
        self, method: str, body: Any
    ) -> list[tuple[Mapping[str, str], bytes]]: ...

    async def upload(
        self,
        method: str,
        source: UploadSource,
        *,
        params: Mapping[str, Any] | None = None,
        content_type: str | None = "application/octet-stream",
        progress: Progress | None = None,
    ) -> Any: ...

    async def download(
        self,
        method: str,
        body: Any,
        dest: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        expected_size: int | None = None,
        expected_sha256: str | None = None,
    ) -> DownloadedFile: ...

    async def aclose(self) -> None: ...


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying."""

    def __init__(self, error: BaseException, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_retryable_status(status: int, body: bytes) -> bool:
    if status in _RETRY_STATUSES or (status >= 500 and status not in _NO_RETRY_5XX):
        return True
    return status == 400 and _AGENT_NOT_READY.encode() in body


class HttpTransport:
    """aiohttp implementation of :class:`Transport` for ``{address}/public/api/v3/<method>``."""

    def __init__(
        self,
        api_base: str,
        headers: Mapping[str, str],
        config: TransferConfig,
        *,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.config = config
        self._headers = dict(headers)
        self._session: aiohttp.ClientSession | None = None
        self._sleep = sleep

    # -- session ----------------------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            cfg = self.config
            connector = aiohttp.TCPConnector(
                limit=cfg.max_connections,
                limit_per_host=cfg.max_connections_per_host,
                ttl_dns_cache=300,
            )
            timeout = aiohttp.ClientTimeout(
                total=None,
                sock_connect=cfg.sock_connect_timeout,
                sock_read=cfg.sock_read_timeout,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                headers=self._headers,
                read_bufsize=min(cfg.chunk_size, 4 * 1024 * 1024),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def url(self, method: str) -> str:
        return f"{self.api_base}/{method}"

    # -- retry engine -----------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**attempt)) for the 0-based retry number."""
        cfg = self.config
        return random.uniform(0.0, min(cfg.backoff_cap, cfg.backoff_base * (2**attempt)))

    async def retrying(self, url: str, attempt_fn: Callable[[int], Awaitable[T]]) -> T:
        """Run ``attempt_fn(attempt)`` (1-based) until it succeeds or the budget is spent."""
        cfg = self.config
        slept = 0.0
        attempt = 0
        last: BaseException | None = None
        while attempt < cfg.retry_attempts:
            attempt += 1
            try:
                return await attempt_fn(attempt)
            except _Retry as exc:
                last = exc.error
                if attempt >= cfg.retry_attempts:
                    break
                delay = self.backoff(attempt - 1)
                if exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                if slept + delay > cfg.retry_max_total_backoff:
                    break
                slept += delay
                await self._sleep(delay)
        assert last is not None
        if isinstance(last, BlobflowError) and not isinstance(last, ApiError):
            raise last  # e.g. IntegrityError: the clearer error is the data's own
        raise RetryBudgetExceeded(last, attempt, url) from last

    async def _check(self, resp: aiohttp.ClientResponse, url: str, attempt: int) -> None:
        """Raise the typed error (wrapped in _Retry when retryable) for a non-2xx answer."""
        if 200 <= resp.status < 300:
            return
        body = await resp.read()
        error = error_from_response(resp.status, body, url, attempt=attempt)
        if _is_retryable_status(resp.status, body):
            raise _Retry(error, _retry_after(resp.headers.get("Retry-After")))
        raise error

    async def _guarded(self, coro: Awaitable[T], url: str = "") -> T:
        """Map connection-level failures to _Retry."""
        try:
            return await coro
        except (_Retry, ApiError, BlobflowError):
            raise
        except aiohttp.InvalidURL:
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
            raise _Retry(ApiError(None, f"{type(exc).__name__}: {exc}", url)) from exc

    # -- JSON -------------------------------------------------------------------------------

    async def post_json(
        self, method: str, body: Any, *, params: Mapping[str, Any] | None = None
    ) -> Any:
        url = self.url(method)
        payload = _json.dumps(body)
        headers = {"Content-Type": "application/json"}

        async def attempt(n: int) -> Any:
            async def go() -> bytes:
                async with self.session().post(
                    url, data=payload, headers=headers, params=params
                ) as resp:
                    await self._check(resp, url, n)
                    return await resp.read()

            raw = await self._guarded(go(), url)
            return _decode_json(raw, url)

        return await self.retrying(url, attempt)

    async def post_multipart_parts(
        self, method: str, body: Any
    ) -> list[tuple[Mapping[str, str], bytes]]:
        url = self.url(method)
        payload = _json.dumps(body)

        async def attempt(n: int) -> list[tuple[Mapping[str, str], bytes]]:
            async def go() -> list[tuple[Mapping[str, str], bytes]]:
                async with self.session().post(
                    url, data=payload, headers={"Content-Type": "application/json"}
                ) as resp:
                    await self._check(resp, url, n)
                    reader = aiohttp.MultipartReader.from_response(resp)
                    parts: list[tuple[Mapping[str, str], bytes]] = []
                    while True:
                        part = await reader.next()
                        if part is None:
                            return parts
                        if isinstance(part, aiohttp.BodyPartReader):
                            parts.append((dict(part.headers), bytes(await part.read())))

            return await self._guarded(go(), url)

        return await self.retrying(url, attempt)

    # -- upload -----------------------------------------------------------------------------

    async def upload(
        self,
        method: str,
        source: UploadSource,
        *,
        params: Mapping[str, Any] | None = None,
        content_type: str | None = "application/octet-stream",
        progress: Progress | None = None,
    ) -> Any:
        """POST a replayable body; every attempt sends it whole from its first byte."""
        url = self.url(method)
        progress = progress or Progress()
        headers: dict[str, str] = {}
        if content_type:
            headers["Content-Type"] = content_type
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            size = (await asyncio.to_thread(path.stat)).st_size
            headers["Content-Length"] = str(size)
            chunk = self.config.chunk_size

            def factory() -> Any:
                return file_body(path, chunk, counter)

        else:
            factory = source

        counter = BodyCounter(progress)

        async def attempt(n: int) -> Any:
            counter.start()

            async def go() -> bytes:
                async with self.session().post(
                    url, data=factory(), headers=headers, params=params
                ) as resp:
                    await self._check(resp, url, n)
                    return await resp.read()

            try:
                raw = await self._guarded(go(), url)
            except BaseException:
                counter.rewind()
                raise
            return _decode_json(raw, url)

        return await self.retrying(url, attempt)

    # -- download ---------------------------------------------------------------------------

    async def download(
        self,
        method: str,
        body: Any,
        dest: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        expected_size: int | None = None,
        expected_sha256: str | None = None,
    ) -> DownloadedFile:
        """Stream a POST response to ``dest`` through ``dest.part``; rename only when verified.

        A broken stream resumes with ``Range: bytes=<bytes kept>-``; a server that ignores the
        Range (200) restarts the file. Size (Content-Length / Content-Range total /
        ``expected_size``) and ``x-content-checksum-sha256`` (or ``expected_sha256``) are checked;
        a mismatch restarts from zero within the retry budget, then raises IntegrityError.
        """
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        url = self.url(method)
        payload = _json.dumps(body)
        state = _Stream(progress or Progress(), expected_size, expected_sha256)
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        f = await asyncio.to_thread(open, part, "wb")
        try:
            try:

                async def attempt(n: int) -> None:
                    await self._guarded(self._stream_once(url, payload, f, state, n, dest), url)

                await self.retrying(url, attempt)
            finally:
                await asyncio.to_thread(f.close)
            await asyncio.to_thread(os.replace, part, dest)
        except BaseException:
            await asyncio.to_thread(_unlink_quiet, part)
            raise
        return DownloadedFile(dest, state.written, state.digest(), state.checksum is not None)

    async def _stream_once(
        self,
        url: str,
        payload: bytes,
        f: BinaryIO,
        state: _Stream,
        attempt: int,
        dest: Path,
    ) -> None:
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        if state.written:
            headers["Range"] = f"bytes={state.written}-"
        async with self.session().post(url, data=payload, headers=headers) as resp:
            if resp.status == 416 and state.written and state.written == state.total:
                await state.verify(f, dest)  # everything had arrived before the break
                return
            await self._check(resp, url, attempt)
            if resp.status == 206 and state.written:
                start, total = _content_range(resp.headers.get("Content-Range"))
                if start != state.written:
                    await state.restart(f)
                    raise _Retry(ApiError(206, f"server resumed at {start}, not {state.written}"))
                if total is not None:
                    state.total = total
            else:
                if state.written:  # Range ignored: the body starts from byte 0 again
                    await state.restart(f)
                state.total = resp.content_length
                state.checksum = resp.headers.get("x-content-checksum-sha256")
            buf = bytearray()
            chunk = self.config.chunk_size
            try:
                async for piece in resp.content.iter_chunked(chunk):
                    buf += piece
                    if len(buf) >= chunk:
                        await state.write(f, buf)
                        buf = bytearray()
            finally:
                # Bytes that did arrive are good: keep them so a resume starts after them.
                if buf:
                    await state.write(f, buf)
        await state.verify(f, dest)


class BodyCounter:
    """Per-attempt byte count of an upload body, so a failed attempt is rewound."""

    __slots__ = ("progress", "sent")

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.sent = 0

    def start(self) -> None:
        self.sent = 0

    def add(self, n: int) -> None:
        self.sent += n
        self.progress.advance(n)

    def rewind(self) -> None:
        self.progress.rewind(self.sent)
        self.sent = 0


async def file_body(path: Path, chunk: int, counter: BodyCounter) -> AsyncIterator[bytes]:
    async with aiofiles.open(path, "rb") as f:
        while True:
            data = await f.read(chunk)
            if not data:
                return
            counter.add(len(data))
            yield data


class _Stream:
    """What a download has written so far, across attempts."""

    def __init__(self, progress: Progress, expected_size: int | None, expected: str | None) -> None:
        self.progress = progress
        self.expected_size = expected_size
        self.expected_sha256 = expected
        self.written = 0
        self.total: int | None = None
        self.checksum: str | None = None
        self.hasher = hashlib.sha256()

    def _write_sync(self, f: BinaryIO, data: bytearray) -> None:
        f.write(data)
        self.hasher.update(data)  # releases the GIL: hashing overlaps the event loop

    async def write(self, f: BinaryIO, data: bytearray) -> None:
        await asyncio.to_thread(self._write_sync, f, data)
        self.written += len(data)
        self.progress.advance(len(data))

    def _restart_sync(self, f: BinaryIO) -> None:
        f.seek(0)
        f.truncate()

    async def restart(self, f: BinaryIO) -> None:
        await asyncio.to_thread(self._restart_sync, f)
        self.progress.rewind(self.written)
        self.written = 0
        self.hasher = hashlib.sha256()

    def digest(self) -> str:
        return b64_digest(self.hasher.digest())

    async def verify(self, f: BinaryIO, dest: Path) -> None:
        if self.total is not None and self.written < self.total:
            raise _Retry(ApiError(None, f"body ended after {self.written} of {self.total} bytes"))
        problem = None
        want_size = self.expected_size if self.expected_size is not None else self.total
        if want_size is not None and self.written != want_size:
            problem = f"size {self.written} != expected {want_size}"
        else:
            want = self.expected_sha256 or self.checksum
            if want is not None and self.digest() != want:
                problem = f"sha256 {self.digest()} != expected {want}"
        if problem is not None:
            await self.restart(f)
            raise _Retry(IntegrityError(f"{dest}: downloaded data is corrupt: {problem}"))
        await asyncio.to_thread(f.flush)


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(start, total) of ``bytes a-b/total``; Nones when absent or malformed."""
    if not value or not value.startswith("bytes "):
        return None, None
    span, _, total = value[6:].partition("/")
    start = span.split("-", 1)[0]
    return (
        int(start) if start.isdigit() else None,
        int(total) if total.isdigit() else None,
    )


def _decode_json(raw: bytes, url: str) -> Any:
    if not raw:
        return None
    try:
        return _json.loads(raw)
    except ValueError:
        raise ApiError(200, f"response is not JSON: {raw[:200]!r}", url) from None


def _unlink_quiet(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
