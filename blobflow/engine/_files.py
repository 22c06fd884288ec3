"""Many small files in few executor calls: never one aiofiles open/write/close per 4 KB image.

Each call hands a whole batch to one worker thread; inside it, every file is written to a
temporary name and renamed, so a crash never leaves a half-written file under its final name.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import TypeVar

from blobflow._errors import BlobflowError

__all__ = [
    "batched",
    "write_files",
    "read_files",
    "write_file_atomic",
    "safe_member_name",
    "extract_ranges",
]

T = TypeVar("T")

DEFAULT_BATCH = 1000


def batched(items: Iterable[T], size: int) -> Iterable[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def write_file_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` via ``<path>.<pid>.tmp`` + rename (sync; call off the loop)."""
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _write_batch(items: Sequence[tuple[str | os.PathLike[str], bytes]]) -> None:
    made: set[str] = set()
    for path, data in items:
        parent = os.path.dirname(os.fspath(path))
        if parent and parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        write_file_atomic(path, data)


async def write_files(
    items: Iterable[tuple[str | os.PathLike[str], bytes]], batch_size: int = DEFAULT_BATCH
) -> int:
    """Write ``(path, bytes)`` pairs, ``batch_size`` files per executor call; returns the count."""
    n = 0
    for chunk in batched(items, batch_size):
        await asyncio.to_thread(_write_batch, chunk)
        n += len(chunk)
    return n


def _read_batch(paths: Sequence[str | os.PathLike[str]]) -> list[bytes]:
    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(f.read())
    return out


async def read_files(
    paths: Sequence[str | os.PathLike[str]], batch_size: int = DEFAULT_BATCH
) -> list[bytes]:
    """Read many small files, ``batch_size`` per executor call, in order."""
    out: list[bytes] = []
    for chunk in batched(paths, batch_size):
        out.extend(await asyncio.to_thread(_read_batch, chunk))
    return out


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
    os.makedirs(dest_dir, exist_ok=True)
    fd = os.open(tar_path, os.O_RDONLY)
    try:
        for name, start, end in entries:
            if not 0 <= start <= end <= size:
                raise BlobflowError(
                    f"{tar_path}: range {start}-{end} of {name!r} lies outside the blob ({size} B)"
                )
            data = os.pread(fd, end - start, start)
            write_file_atomic(os.path.join(dest_dir, name), data)
    finally:
        os.close(fd)


async def extract_ranges(
    tar_path: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    entries: Iterable[tuple[str, int, int]],
    batch_size: int = DEFAULT_BATCH,
) -> int:
    """Slice ``(name, start, end)`` byte ranges out of a blob into ``dest_dir/<name>`` files.

    One executor call per ``batch_size`` images (one open of the tar, ``pread`` per image);
    names are checked so none escapes ``dest_dir``.
    """
    tar = os.fspath(tar_path)
    size = (await asyncio.to_thread(os.stat, tar)).st_size
    dest = os.fspath(Path(dest_dir))
    n = 0
    for chunk in batched(entries, batch_size):
        for name, _, _ in chunk:
            safe_member_name(name)
        await asyncio.to_thread(_extract_batch, tar, dest, chunk, size)
        n += len(chunk)
    return n
