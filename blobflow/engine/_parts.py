"""Pipelined blob parts: a big folder packed, uploaded and registered part by part.

::

    list the folder once (blob.list_members), cut it into parts of blob_part_images
    part k: pack + stream to Team Files (<stem>_00k.tar), then its <stem>_00k_offsets.pkl
        --> registration + annotations of part k (a task)   ||   part k+1 packs and uploads

With one blob, nothing can be registered before its last byte has arrived: over a slow link
the registrations and the annotations wait for the whole upload. With parts, each part is a
complete tar with its own offsets, registered while the next one uploads. The server ends with
the same images and annotations; Team Files holds one tar and one ``_offsets.pkl`` per part.
Batches are yielded in file order; a part's batches wait (in memory, at most a part's
ImageInfo) until the parts before it are yielded. At most ``config.parts_registering`` parts
register at once: the next part's upload waits for a slot, so memory holds that many
registration windows.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from blobflow.api import (
    AnnotationSource,
    Api,
    ConflictResolution,
    DatasetInfo,
    ImageInfo,
    ProgressCallback,
    register_offsets,
)
from blobflow.blob import list_members, offsets_pkl_path
from blobflow.engine._blob_files import BlobUpload, unless_failed
from blobflow.engine._pack_upload import pack_and_upload_blob_files

__all__ = ["part_paths", "upload_blob_parts"]

_Item = list[ImageInfo] | BaseException | None


def part_paths(tar_path: Path, index: int) -> tuple[Path, Path]:
    """Part ``index`` (1-based) of ``tar_path``: ``<stem>_00k.tar`` and its offsets, beside."""
    tar = tar_path.with_name(f"{tar_path.stem}_{index:03d}.tar")
    return tar, offsets_pkl_path(tar)


async def upload_blob_parts(  # noqa: C901, PLR0913 - upload_blob's options, one part at a time
    api: Api,
    dataset: DatasetInfo,
    team_id: int,
    images_dir: str | os.PathLike[str],
    tar_path: str | os.PathLike[str],
    members: Sequence[str],
    *,
    part_images: int,
    team_dir: str | None,
    metas: Mapping[str, dict[str, Any]] | None = None,
    annotations: AnnotationSource | None = None,
    conflict_resolution: ConflictResolution | None = "skip",
    progress_cb: ProgressCallback = None,
    bytes_progress_cb: ProgressCallback = None,
    convert_coordinates: bool = True,
    checked: Callable[[], Awaitable[Any]] | None = None,
) -> AsyncIterator[list[ImageInfo]]:
    """Pack ``members`` of ``images_dir`` in parts of ``part_images``; each part registers
    (with its annotations) while the next one uploads. Yields ImageInfo batches in order.
    ``checked()`` starts with the first part's upload; nothing registers before it succeeds,
    and its failure stops the upload in flight. Meanwhile parts go on uploading until
    ``parts_registering`` of them wait for it (a check of 300,000 annotation files outlasts
    several parts' uploads)."""
    tar = Path(tar_path)
    chunks = [members[i : i + part_images] for i in range(0, len(members), part_images)]
    parts: asyncio.Queue[asyncio.Queue[_Item] | BaseException | None] = asyncio.Queue()
    tasks: list[asyncio.Task[None]] = []

    check: asyncio.Future[Any] | None = None

    async def register(files: BlobUpload, pkl: Path, out: asyncio.Queue[_Item]) -> None:
        assert files.blob.id is not None
        try:
            if check is not None:
                await asyncio.shield(check)
            async for infos in register_offsets(
                api, dataset, files.blob.id, pkl, metas=metas, annotations=annotations,
                conflict_resolution=conflict_resolution, progress_cb=progress_cb,
                mark_blob_project=False, convert_coordinates=convert_coordinates,
                annotations_checked=checked is not None,
            ):  # fmt: skip
                out.put_nowait(infos)
        except BaseException as exc:
            out.put_nowait(exc)
            raise
        out.put_nowait(None)

    # parts registering at once: memory holds this many registration windows
    registering = asyncio.Semaphore(api.config.parts_registering)

    async def produce() -> None:
        nonlocal check
        try:
            for index, chunk in enumerate(chunks, 1):
                part_tar, pkl = part_paths(tar, index)
                sending = pack_and_upload_blob_files(
                    api, team_id, images_dir, part_tar, team_dir=team_dir,
                    progress_cb=bytes_progress_cb, members=chunk,
                )  # fmt: skip
                if checked is not None and check is None:
                    check = asyncio.ensure_future(checked())
                files = await unless_failed(sending, check)
                out: asyncio.Queue[_Item] = asyncio.Queue()
                await registering.acquire()
                task = asyncio.ensure_future(register(files, pkl, out))
                task.add_done_callback(lambda _t: registering.release())
                tasks.append(task)
                parts.put_nowait(out)
        except BaseException as exc:
            parts.put_nowait(exc)
            raise
        parts.put_nowait(None)

    producer = asyncio.ensure_future(produce())
    try:
        while (part := await parts.get()) is not None:
            if isinstance(part, BaseException):
                raise part
            while (item := await part.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        await producer
    finally:
        for task in [producer, *tasks, *([check] if check is not None else [])]:
            task.cancel()
        await asyncio.gather(producer, *tasks, return_exceptions=True)
        if check is not None:
            await asyncio.gather(check, return_exceptions=True)
    if dataset.project_id is not None:
        await api.project.mark_blob_project(dataset.project_id)


async def list_images(
    images_dir: str | os.PathLike[str],
    tar_path: Path,
    filter_func: Callable[[str], bool] | None = None,
) -> list[str]:
    """The folder's images (those ``filter_func`` keeps) in packing order (one walk, in a
    thread)."""
    return await asyncio.to_thread(
        functools.partial(list_members, images_dir, tar_path, filter_func=filter_func)
    )
