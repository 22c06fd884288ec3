"""``sly.fs``: the SDK's file helpers that blob workflows use.

``archive_directory`` and ``save_blob_offsets_pkl`` are blobflow's packer and indexer (one
pass, deterministic, files under their final name only when complete).
"""

from __future__ import annotations

import errno
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

from blobflow.blob import (
    OFFSETS_PKL_BATCH_SIZE,
    OFFSETS_PKL_SUFFIX,
    get_file_offsets_batch_generator,
)
from blobflow.blob import (
    archive_directory as _archive_directory,
)
from blobflow.blob import (
    save_blob_offsets_pkl as _save_blob_offsets_pkl,
)
from blobflow.sly._args import refuse

__all__ = [
    "archive_directory",
    "clean_dir",
    "dir_exists",
    "ensure_base_path",
    "file_exists",
    "get_file_ext",
    "get_file_name",
    "get_file_name_with_ext",
    "get_file_offsets_batch_generator",
    "get_file_size",
    "list_files",
    "mkdir",
    "remove_dir",
    "save_blob_offsets_pkl",
    "silent_remove",
]


def mkdir(dir: str | os.PathLike[str], remove_content_if_exists: bool | None = False) -> None:
    """Create ``dir`` and its parents; with ``remove_content_if_exists`` empty it first."""
    if os.path.isdir(dir) and remove_content_if_exists:
        clean_dir(dir)
    else:
        os.makedirs(dir, mode=0o777, exist_ok=True)


def clean_dir(dir_: str | os.PathLike[str], ignore_errors: bool | None = True) -> None:
    """Remove everything inside ``dir_`` (the folder stays)."""
    for entry in os.scandir(dir_):
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            if not ignore_errors:
                raise


def remove_dir(dir_: str | os.PathLike[str]) -> None:
    shutil.rmtree(dir_, ignore_errors=True)


def silent_remove(file_path: str | os.PathLike[str]) -> None:
    """Remove a file; a missing one is fine."""
    try:
        os.remove(file_path)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise


def ensure_base_path(path: str | os.PathLike[str]) -> None:
    parent = os.path.dirname(os.fspath(path))
    if parent:
        mkdir(parent)


def dir_exists(dir: str | os.PathLike[str]) -> bool:
    return os.path.isdir(dir)


def file_exists(path: str | os.PathLike[str]) -> bool:
    return os.path.isfile(path)


def get_file_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def get_file_ext(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[1]


def get_file_name_with_ext(path: str) -> str:
    return os.path.basename(path)


def get_file_size(path: str | os.PathLike[str]) -> int:
    return os.path.getsize(path)


def list_files(
    dir: str,
    valid_extensions: list[str] | None = None,
    filter_fn: Callable[[str], bool] | None = None,
    ignore_valid_extensions_case: bool | None = False,
) -> list[str]:
    """Files (not folders) directly in ``dir``, optionally by extension and ``filter_fn``."""
    valid = valid_extensions
    if valid is not None and ignore_valid_extensions_case:
        valid = [e.lower() for e in valid]
    out = []
    for entry in os.scandir(dir):
        if not entry.is_file():
            continue
        path = os.path.join(dir, entry.name)
        ext = get_file_ext(path)
        if ignore_valid_extensions_case:
            ext = ext.lower()
        if (valid is None or ext in valid) and (filter_fn is None or filter_fn(path)):
            out.append(path)
    return out


def archive_directory(
    dir_: str | os.PathLike[str],
    tar_path: str | os.PathLike[str],
    split: int | str | None = None,
    chunk_size_mb: int = 50,
) -> list[str] | None:
    """Pack every file under ``dir_`` into the uncompressed tar ``tar_path`` (None returned).

    The tar is blobflow's (deterministic, written once, complete before it gets its name);
    ``chunk_size_mb`` only tuned the SDK's copying and has no effect here.
    """
    refuse("fs.archive_directory",
           "blobflow.archive_directory_parts(src, tar, max_bytes=...) writes whole tars",
           split=split)  # fmt: skip
    _archive_directory(dir_, tar_path)
    return None


def save_blob_offsets_pkl(
    blob_file_path: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    team_file_id: int | None = None,
    filter_func: Callable[[str], bool] | None = None,
    batch_size: int = OFFSETS_PKL_BATCH_SIZE,
    replace: bool = False,
) -> str:
    """Write ``<output_dir>/<tar stem>_offsets.pkl``; return its path.

    As the SDK, an existing file is kept and returned unless ``replace=True``. When that
    happens to a call with ``filter_func`` (the returned file was not made with that filter)
    a warning says so.
    """
    out = os.path.join(os.fspath(output_dir), Path(blob_file_path).stem + OFFSETS_PKL_SUFFIX)
    if filter_func is not None and not replace and os.path.exists(out):
        warnings.warn(
            f"{out} already exists and is returned as it is, without filter_func applied "
            "(as the SDK does); pass replace=True to write it with the filter, or a different "
            "output_dir to keep both",
            UserWarning,
            stacklevel=2,
        )
    return _save_blob_offsets_pkl(
        blob_file_path, output_dir, team_file_id, filter_func, batch_size, replace
    )
