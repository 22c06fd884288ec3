"""Ground file helpers shared by every layer: batched reads and writes, atomic writes, safe names.

Many small files in few executor calls: never one aiofiles open/write/close per 4 KB image.
Each call hands a whole batch to one worker thread; inside it, every file is written to a
temporary name and renamed, so a crash never leaves a half-written file under its final name.
"""

from __future__ import annotations

import asyncio
import functools
import os
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import TypeVar

from blobflow._errors import BlobflowError
from blobflow._write_child import write_file_atomic, write_files_in

__all__ = [
    "batched",
    "extract_ranges",
    "read_file",
    "read_files",
    "safe_member_name",
    "write_file_atomic",
    "write_files",
    "write_files_in",
    "write_named_files",
]

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_BATCH = 1000
#: executor calls in flight: file creation is metadata-bound and scales with a few threads
DEFAULT_THREADS = 4
_READ_CHUNK = 256 << 10


def batched(items: Iterable[T], size: int) -> Iterable[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _spread(items: Sequence[T], batch_size: int, threads: int) -> list[list[T]]:
    """Batches of at most ``batch_size`` that give each of ``threads`` workers a share."""
    size = max(1, min(batch_size, -(-len(items) // max(1, threads))))
    return list(batched(items, size))


async def _in_threads(calls: Sequence[Callable[[], R]], threads: int) -> list[R]:
    """Run sync callables in worker threads, at most ``threads`` at once; results in order."""
    sem = asyncio.Semaphore(max(1, threads))

    async def one(call: Callable[[], R]) -> R:
        async with sem:
            return await asyncio.to_thread(call)

    return list(await asyncio.gather(*(one(c) for c in calls)))


def _write_batch(items: Sequence[tuple[str | os.PathLike[str], bytes]]) -> None:
    made: set[str] = set()
    for path, data in items:
        parent = os.path.dirname(os.fspath(path))
        if parent and parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        write_file_atomic(path, data)


async def write_files(
    items: Iterable[tuple[str | os.PathLike[str], bytes]],
    batch_size: int = DEFAULT_BATCH,
    threads: int = DEFAULT_THREADS,
) -> int:
    """Write ``(path, bytes)`` pairs, at most ``batch_size`` files per executor call and
    ``threads`` calls at once; returns the count.
    """
    n = 0
    for group in batched(items, batch_size * threads):
        chunks = _spread(group, batch_size, threads)
        await _in_threads([functools.partial(_write_batch, c) for c in chunks], threads)
        n += len(group)
    return n


def read_file(path: str | os.PathLike[str]) -> bytes:
    """A whole file, through os-level calls (half the time of ``open().read()`` on 4 KB);
    blocking: call it from a worker thread."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, _READ_CHUNK):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _read_batch(paths: Sequence[str | os.PathLike[str]]) -> list[bytes]:
    return [read_file(p) for p in paths]


async def read_files(
    paths: Sequence[str | os.PathLike[str]],
    batch_size: int = DEFAULT_BATCH,
    threads: int = DEFAULT_THREADS,
) -> list[bytes]:
    """Read many small files, at most ``batch_size`` per executor call, in order."""
    out: list[bytes] = []
    for group in batched(paths, batch_size * threads):
        chunks = _spread(group, batch_size, threads)
        for datas in await _in_threads(
            [functools.partial(_read_batch, c) for c in chunks], threads
        ):
            out.extend(datas)
    return out


def write_named_files(folder: str | os.PathLike[str], files: Mapping[str, bytes]) -> None:
    """Write many small files (plain name -> bytes) into ``folder`` (created), each atomically,
    in one sync call; every name is checked with :func:`safe_member_name` first.

    Async callers run a whole batch in one executor call instead of one open per image.
    """
    write_files_in(folder, [(safe_member_name(n), data) for n, data in files.items()])


def safe_member_name(name: str) -> str:
    """``name`` if it is a plain file name that cannot escape a directory, else BlobflowError."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or posixpath.isabs(name)
    ):
        raise BlobflowError(f"unsafe image name {name!r}: refusing to write it outside the folder")
    return name


def _extract_batch(
    tar_path: str, dest_dir: str, entries: Sequence[tuple[str, int, int]], size: int
) -> None:
    fd = os.open(tar_path, os.O_RDONLY)

    def slices() -> Iterator[tuple[str, bytes]]:
        for name, start, end in entries:
            if not 0 <= start <= end <= size:
                raise BlobflowError(
                    f"{tar_path}: range {start}-{end} of {name!r} lies outside the blob ({size} B)"
                )
            yield name, os.pread(fd, end - start, start)

    try:
        write_files_in(dest_dir, slices())
    finally:
        os.close(fd)


async def extract_ranges(
    tar_path: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    entries: Iterable[tuple[str, int, int]],
    batch_size: int = DEFAULT_BATCH,
    threads: int = DEFAULT_THREADS,
) -> int:
    """Slice ``(name, start, end)`` byte ranges out of a blob into ``dest_dir/<name>`` files.

    One executor call per at most ``batch_size`` images (one open of the tar, ``pread`` per
    image), ``threads`` calls at once; names are checked so none escapes ``dest_dir``.
    """
    tar = os.fspath(tar_path)
    size = (await asyncio.to_thread(os.stat, tar)).st_size
    dest = os.fspath(Path(dest_dir))
    n = 0
    for group in batched(entries, batch_size * threads):
        for name, _, _ in group:
            safe_member_name(name)
        chunks = _spread(group, batch_size, threads)
        calls = [functools.partial(_extract_batch, tar, dest, c, size) for c in chunks]
        await _in_threads(calls, threads)
        n += len(group)
    return n
