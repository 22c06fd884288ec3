"""Where stored bytes live: the :class:`BlobStore` seam, and its default, files on disk.

A store keeps immutable objects under relative paths (``objects/<xx>/<uuid>`` for Team Files
contents, ``images/<xx>/<sha256 hex>`` for content-addressed images). An upload streams into an
:class:`Upload` and becomes visible under its final path only when committed whole. The
database records the paths; :meth:`BlobStore.sweep` removes what it does not know.

:class:`LocalStorage`, the embedded default: files written temp + fsync + rename. Layout under
the data dir: ``objects/<xx>/<uuid>`` for Team Files contents (a new object per
upload, never modified, so images registered against one keep their bytes when the Team Files
path is overwritten), ``images/<xx>/<sha256 hex>`` for content-addressed images, and ``tmp/``
for uploads in flight (emptied at start-up: a crash never leaves a half-written file visible).
All file work runs on a small thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import hashlib
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar

from aiohttp import web

from blobflow._errors import BlobflowError
from blobflow._hash import b64_sha256
from blobflow.server._errors import RequestTooLarge
from blobflow.server._http import RateShaper, send_file

__all__ = ["BlobStore", "Upload", "LocalStorage", "TempWriter", "b64_sha256"]

T = TypeVar("T")
_FLUSH_BYTES = 4 << 20


class Upload(ABC):
    """One upload streaming into a store: ``write`` chunks, then ``commit_*`` or ``abort``.

    ``size`` and ``hash`` (base64 sha256, taken while the bytes stream) are final once the
    last chunk is written. Nothing is visible under a final path before a commit returns.
    """

    size: int

    @abstractmethod
    async def write(self, chunk: bytes) -> None: ...

    @property
    @abstractmethod
    def hash(self) -> str: ...

    @abstractmethod
    async def commit_object(self) -> str:
        """Make the upload a new immutable object; returns its relative path."""

    @abstractmethod
    async def commit_content(self) -> str:
        """Store the upload content-addressed (by sha256); an identical one is kept as is."""

    @abstractmethod
    async def abort(self) -> None:
        """Drop the upload (idempotent with a failed commit): nothing of it stays visible."""


class BlobStore(ABC):
    """The stored bytes of one server (or of every node sharing the store)."""

    #: Stored files younger than this are never swept: another node may be between writing
    #: one and committing its database row.
    sweep_grace_s: float = 0.0

    @abstractmethod
    async def prepare(self) -> None:
        """Make the store ready (create layout, drop half-written uploads)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise :class:`~blobflow.server._errors.Unavailable` when the store cannot be used."""

    @abstractmethod
    async def open_temp(self, max_bytes: int) -> Upload:
        """A new upload of at most ``max_bytes`` (more is a 413)."""

    @abstractmethod
    async def sweep(self, known: set[str]) -> int:
        """Remove stored files the database does not know (a crash between storing a file and
        committing its row leaves such orphans; nothing references them). Returns how many."""

    @abstractmethod
    async def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> list[bytes]:
        """Many ``(relpath, start, end)`` slices."""

    async def read_hashed(self, relpath: str, start: int, end: int) -> tuple[bytes, str]:
        """One slice and its base64 sha256."""
        data = (await self.read_ranges([(relpath, start, end)]))[0]
        return data, b64_sha256(data)

    @abstractmethod
    async def remove(self, relpaths: Sequence[str]) -> None: ...

    @abstractmethod
    async def send(
        self,
        request: web.Request,
        relpath: str,
        size: int,
        *,
        checksum: str | None = None,
        shaper: RateShaper | None = None,
    ) -> web.StreamResponse:
        """A whole stored file as the response (``Range`` honoured)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_hashed(f: IO[bytes], digest: Any, chunks: list[bytes]) -> None:
    for chunk in chunks:
        f.write(chunk)
        digest.update(chunk)


def _open_new(path: Path) -> IO[bytes]:
    return open(path, "xb")


class TempWriter(Upload):
    """Streams one upload into ``tmp/``; ``commit`` moves it to its final immutable place."""

    def __init__(self, storage: LocalStorage, f: IO[bytes], path: Path, max_bytes: int) -> None:
        self._storage = storage
        self._f = f
        self.path = path
        self._max = max_bytes
        self._digest = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self._max:
            raise RequestTooLarge(f"upload exceeds the limit of {self._max} bytes")
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        if self._pending_size >= _FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        chunks, self._pending, self._pending_size = self._pending, [], 0
        if chunks:
            await self._storage.run(_write_hashed, self._f, self._digest, chunks)

    @property
    def hash(self) -> str:
        return base64.standard_b64encode(self._digest.digest()).decode()

    async def commit_object(self) -> str:
        await self._flush()
        name = uuid.uuid4().hex
        relpath = f"objects/{name[:2]}/{name}"
        await self._storage.run(self._storage._commit, self._f, self.path, relpath, False)
        return relpath

    async def commit_content(self) -> str:
        await self._flush()
        relpath = f"images/{self._digest.hexdigest()[:2]}/{self._digest.hexdigest()}"
        await self._storage.run(self._storage._commit, self._f, self.path, relpath, True)
        return relpath

    async def abort(self) -> None:
        await self._storage.run(self._storage._discard, self._f, self.path)


class LocalStorage(BlobStore):
    """The data dir's files and the thread pool that touches them."""

    def __init__(self, root: Path, *, io_threads: int = 4) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self._executor = ThreadPoolExecutor(io_threads, thread_name_prefix="blobflow-io")
        self._lock: IO[bytes] | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args))

    async def prepare(self) -> None:
        await self.run(self._prepare)

    async def ping(self) -> None:
        return None  # a local disk is there while the process is

    def _prepare(self) -> None:
        """Lock the data dir, create the layout and drop uploads a previous process left
        half-written. A second server on the same data dir is refused."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.root / ".lock", "a+b")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise BlobflowError(
                f"data dir {self.root} is in use by another blobflow server"
            ) from None
        shutil.rmtree(self.tmp, ignore_errors=True)
        for sub in ("tmp", "objects", "images"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    async def sweep(self, known: set[str]) -> int:
        return await self.run(self._sweep, known)

    def _sweep(self, known: set[str]) -> int:
        removed = 0
        for sub in ("objects", "images"):
            for shard in os.scandir(self.root / sub):
                if not shard.is_dir():
                    continue
                for entry in os.scandir(shard.path):
                    if f"{sub}/{shard.name}/{entry.name}" not in known:
                        os.unlink(entry.path)
                        removed += 1
        return removed

    async def close(self) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock (a crash releases it too)
            self._lock = None
        self._executor.shutdown(wait=False)  # requests are done; never join on the loop

    async def send(
        self,
        request: web.Request,
        relpath: str,
        size: int,
        *,
        checksum: str | None = None,
        shaper: RateShaper | None = None,
    ) -> web.StreamResponse:
        return await send_file(request, self.root / relpath, size, checksum=checksum, shaper=shaper)

    async def open_temp(self, max_bytes: int) -> TempWriter:
        path = self.tmp / f"{uuid.uuid4().hex}.part"
        f = await self.run(_open_new, path)
        return TempWriter(self, f, path, max_bytes)

    def _commit(self, f: IO[bytes], tmp: Path, relpath: str, dedupe: bool) -> None:
        f.flush()
        os.fsync(f.fileno())
        f.close()
        final = self.root / relpath
        final.parent.mkdir(exist_ok=True)
        if dedupe and final.exists():
            tmp.unlink()
            return
        os.replace(tmp, final)
        _fsync_dir(final.parent)

    @staticmethod
    def _discard(f: IO[bytes], tmp: Path) -> None:
        f.close()
        tmp.unlink(missing_ok=True)

    async def read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> list[bytes]:
        return await self.run(self._read_ranges, ranges)

    def _read_ranges(self, ranges: Sequence[tuple[str, int, int]]) -> list[bytes]:
        out: list[bytes] = []
        fds: dict[str, int] = {}
        try:
            for relpath, start, end in ranges:
                fd = fds.get(relpath)
                if fd is None:
                    fd = fds[relpath] = os.open(self.root / relpath, os.O_RDONLY)
                out.append(os.pread(fd, end - start, start))
        finally:
            for fd in fds.values():
                os.close(fd)
        return out

    async def read_hashed(self, relpath: str, start: int, end: int) -> tuple[bytes, str]:
        return await self.run(self._read_hashed, relpath, start, end)

    def _read_hashed(self, relpath: str, start: int, end: int) -> tuple[bytes, str]:
        data = self._read_ranges([(relpath, start, end)])[0]
        return data, b64_sha256(data)

    async def remove(self, relpaths: Sequence[str]) -> None:
        await self.run(self._remove, relpaths)

    def _remove(self, relpaths: Sequence[str]) -> None:
        for relpath in relpaths:
            (self.root / relpath).unlink(missing_ok=True)
