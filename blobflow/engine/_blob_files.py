"""A blob and its index in Team Files: where they landed, and the plain parallel upload."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blobflow.api import Api, FileInfo, Progress, ProgressCallback
from blobflow.blob import offsets_pkl_path, team_files_blob_path

__all__ = ["BlobUpload", "unless_failed", "upload_blob_files", "while_checked"]


@dataclass(frozen=True)
class BlobUpload:
    """Where a blob and its index landed in Team Files."""

    blob: FileInfo
    offsets: FileInfo


async def upload_blob_files(
    api: Api,
    team_id: int,
    tar_path: str | os.PathLike[str],
    offsets_path: str | os.PathLike[str] | None = None,
    *,
    team_dir: str | None = None,
    progress_cb: ProgressCallback = None,
) -> BlobUpload:
    """Upload ``<stem>.tar`` and ``<stem>_offsets.pkl`` to ``team_dir`` (default
    ``/blob-files``, the SDK's ``TF_BLOB_DIR``) in parallel."""
    tar = Path(tar_path)
    offsets = Path(offsets_path) if offsets_path else offsets_pkl_path(tar)
    dst_tar = team_files_blob_path(tar.name, team_dir)
    dst_pkl = team_files_blob_path(offsets_pkl_path(tar).name, team_dir)
    progress = Progress(progress_cb)
    blob, index = await asyncio.gather(
        api.file.upload(team_id, tar, dst_tar, progress),
        api.file.upload(team_id, offsets, dst_pkl, progress),
    )
    return BlobUpload(blob, index)


async def unless_failed(
    work: Awaitable[BlobUpload], check: asyncio.Future[Any] | None
) -> BlobUpload:
    """``work``'s result, unless ``check`` fails first: then ``work`` is cancelled and the
    check's error raised. A check still running when ``work`` ends is left running."""
    if check is None:
        return await work
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait([task, check], return_when=asyncio.FIRST_COMPLETED)
        if check in done and (check.cancelled() or check.exception() is not None):
            check.result()  # re-raise the check's failure
        return await task
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def while_checked(work: Awaitable[BlobUpload], check: Awaitable[Any] | None) -> BlobUpload:
    """``work``'s result once ``check`` has also succeeded; the first failure cancels the other."""
    if check is None:
        return await work
    tasks = [asyncio.ensure_future(work), asyncio.ensure_future(check)]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # re-raise the first failure
        await asyncio.gather(*tasks)
        return tasks[0].result()  # type: ignore[no-any-return]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
