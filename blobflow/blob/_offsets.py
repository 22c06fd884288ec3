"""Offsets of an existing tar: ``get_file_offsets_batch_generator`` and ``save_blob_offsets_pkl``.

Same names, arguments and output shapes as ``supervisely.io.fs``; the tar is read by walking its
raw headers (``_tar.iter_tar_members``), never with ``tarfile.getmembers()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, Literal, overload

from blobflow._atomic import atomic_path
from blobflow._errors import BlobFormatError
from blobflow._gc import gc_paused
from blobflow.blob._layout import offsets_pkl_path
from blobflow.blob._pickle import (
    OFFSETS_PKL_BATCH_SIZE,
    BlobImageInfo,
    write_streams,
)
from blobflow.blob._tar import _REGULAR, iter_member_groups

__all__ = [
    "check_member_name",
    "get_file_offsets_batch_generator",
    "save_blob_offsets_pkl",
    "scan_blob",
]

_SPECIAL = {
    ord("1"): "hard link",
    ord("2"): "symbolic link",
    ord("3"): "character device",
    ord("4"): "block device",
    ord("6"): "FIFO",
}


def check_member_name(name: str, where: str) -> str:
    """Return the image title (basename) of a member path, or raise if the path is unsafe."""
    if name.startswith("/"):
        raise BlobFormatError(f"{where}: absolute member path {name!r}")
    parts = name.split("/")
    if ".." in parts:
        raise BlobFormatError(f"{where}: member path {name!r} escapes the archive ('..')")
    title = parts[-1]
    if not title or title == "." or "\x00" in name:
        raise BlobFormatError(f"{where}: member path {name!r} has no valid file name")
    if "\\" in title:  # image names are file names on every platform, so no backslash
        raise BlobFormatError(f"{where}: image name {title!r} contains a backslash")
    try:
        title.encode("utf-8")
    except UnicodeEncodeError:
        raise BlobFormatError(f"{where}: member name {name!r} is not valid UTF-8") from None
    return title


def scan_blob(
    archive_path: str | os.PathLike[str],
    filter_func: Callable[[str], bool] | None = None,
    *,
    skip_special: bool = False,
) -> Iterator[BlobImageInfo]:
    """BlobImageInfo of every regular member, in archive order (title = basename).

    Directories are skipped. Links, devices and FIFOs raise (the image would silently be
    missing) unless ``skip_special=True``, which skips them as the SDK does. Unsafe paths
    (``../x``, ``/abs``) and two members with the same basename raise, naming both.
    """
    path = os.fspath(archive_path)
    seen: dict[str, str] = {}
    for group in iter_member_groups(path):
        with gc_paused():  # a group allocates up to 4,096 BlobImageInfo: no full collections
            infos = _group_infos(group, path, seen, filter_func, skip_special)
        yield from infos


def _group_infos(
    group: list[tuple[str, int, int, int, int]],
    path: str,
    seen: dict[str, str],
    filter_func: Callable[[str], bool] | None,
    skip_special: bool,
) -> list[BlobImageInfo]:
    out: list[BlobImageInfo] = []
    for name, typeflag, _offset, data, size in group:
        if typeflag not in _REGULAR:
            kind = _SPECIAL.get(typeflag)
            if kind and not skip_special:
                raise BlobFormatError.refusal(
                    f"{path}: member {name!r} is a {kind}, not a regular file",
                    "skip_special",
                    "ignore it",
                )
            continue
        if filter_func is not None and not filter_func(name):
            continue
        if name.isascii() and name[:1] != "/" and ".." not in name and "\\" not in name:
            title = name.rpartition("/")[2]
            if not title or "\x00" in name or title == ".":
                title = check_member_name(name, path)
        else:
            title = check_member_name(name, path)
        other = seen.setdefault(title, name)
        if other is not name:  # identity: the same path twice (tar append) clashes too
            raise BlobFormatError(
                f"{path}: members {other!r} and {name!r} have the same image name {title!r}"
            )
        out.append(BlobImageInfo(title, data, data + size))
    return out


@overload
def get_file_offsets_batch_generator(
    archive_path: str | os.PathLike[str],
    team_file_id: int | None = ...,
    filter_func: Callable[[str], bool] | None = ...,
    output_format: Literal["dicts"] = ...,
    batch_size: int = ...,
    *,
    skip_special: bool = ...,
) -> Iterator[list[dict[str, Any]]]: ...
@overload
def get_file_offsets_batch_generator(
    archive_path: str | os.PathLike[str],
    team_file_id: int | None = ...,
    filter_func: Callable[[str], bool] | None = ...,
    *,
    output_format: Literal["objects"],
    batch_size: int = ...,
    skip_special: bool = ...,
) -> Iterator[list[BlobImageInfo]]: ...
@overload
def get_file_offsets_batch_generator(
    archive_path: str | os.PathLike[str],
    team_file_id: int | None,
    filter_func: Callable[[str], bool] | None,
    output_format: Literal["objects"],
    batch_size: int = ...,
    *,
    skip_special: bool = ...,
) -> Iterator[list[BlobImageInfo]]: ...
def get_file_offsets_batch_generator(
    archive_path: str | os.PathLike[str],
    team_file_id: int | None = None,
    filter_func: Callable[[str], bool] | None = None,
    output_format: Literal["dicts", "objects"] = "dicts",
    batch_size: int = OFFSETS_PKL_BATCH_SIZE,
    *,
    skip_special: bool = False,
) -> Iterator[list[dict[str, Any]]] | Iterator[list[BlobImageInfo]]:
    """Batches of the offsets of every regular file in a tar, in archive order.

    ``"dicts"``: ``{"title", "teamFileId", "sourceBlob": {"offsetStart", "offsetEnd"}}``;
    ``"objects"``: BlobImageInfo (``team_file_id`` is not attached, as in the SDK).
    ``filter_func`` gets the member path inside the tar. ``offsetEnd`` is exclusive.
    """
    if output_format not in ("dicts", "objects"):
        raise ValueError(f"output_format must be 'dicts' or 'objects', not {output_format!r}")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    infos = scan_blob(archive_path, filter_func, skip_special=skip_special)
    if output_format == "objects":
        return _batched(infos, batch_size)
    return (
        [
            {
                "title": i.name,
                "teamFileId": team_file_id,
                "sourceBlob": {"offsetStart": i.offset_start, "offsetEnd": i.offset_end},
            }
            for i in batch
        ]  # BlobImageInfo.to_dict, inlined
        for batch in _batched(infos, batch_size)
    )


def _batched(infos: Iterator[BlobImageInfo], size: int) -> Iterator[list[BlobImageInfo]]:
    batch: list[BlobImageInfo] = []
    for info in infos:
        batch.append(info)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def save_blob_offsets_pkl(
    blob_file_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    team_file_id: int | None = None,
    filter_func: Callable[[str], bool] | None = None,
    batch_size: int = OFFSETS_PKL_BATCH_SIZE,
    replace: bool = False,
    *,
    skip_special: bool = False,
) -> str:
    """Scan a tar and write ``<output_dir>/<tar stem>_offsets.pkl``; return its path.

    An existing file is kept as is (and its path returned) unless ``replace=True``, which
    rewrites it whole: entries are never appended twice. The file is written under a temporary
    name and renamed only when complete, so a failed scan leaves any old file untouched.
    ``team_file_id`` is accepted for SDK compatibility and, as in the SDK, not stored.
    """
    out = os.fspath(offsets_pkl_path(blob_file_path, output_dir))
    if not replace and os.path.exists(out):
        return out
    batches = get_file_offsets_batch_generator(
        blob_file_path,
        team_file_id,
        filter_func,
        output_format="objects",
        batch_size=min(batch_size, OFFSETS_PKL_BATCH_SIZE),
        skip_special=skip_special,
    )
    os.makedirs(os.fspath(output_dir), exist_ok=True)
    with gc_paused(), atomic_path(out) as tmp, open(tmp, "wb") as f:
        write_streams(batches, f)
    return out
