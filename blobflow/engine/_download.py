"""Download pipeline: list pages -> blobs by ``relatedDataId`` -> verified files -> extraction.

::

    images.list pages (next page prefetched)
      -> each new relatedDataId starts one blob download (download semaphore; resumable,
         size/checksum-verified, <id>.tar.part renamed only when complete)
      -> a page is released once its blobs are on disk; with ``img_dir`` its images are sliced
         out of the blobs in batched executor calls (one tar open per 1,000 images)

Only the current page, one blob task per blob and compact offsets are held in memory.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from blobflow._errors import BlobflowError
from blobflow._files import extract_ranges, safe_member_name
from blobflow.api import Api, DownloadedFile, ImageInfo, Progress, ProgressCallback

__all__ = ["DatasetDownload", "download_dataset_blobs", "blob_path"]


def blob_path(blob_dir: str | os.PathLike[str], related_data_id: int) -> Path:
    """``<blob_dir>/<related_data_id>.tar``, the SDK's local name of a blob."""
    return Path(blob_dir) / f"{related_data_id}.tar"


@dataclass
class DatasetDownload:
    """What :func:`download_dataset_blobs` fetched; filled in while pages stream out."""

    #: related_data_id -> local .tar (verified)
    blobs: dict[int, Path] = field(default_factory=dict)
    #: related_data_id -> download result (absent for blobs that were already on disk)
    results: dict[int, DownloadedFile] = field(default_factory=dict)
    images: int = 0
    extracted: int = 0


async def download_dataset_blobs(
    api: Api,
    project_id: int,
    dataset_id: int,
    blob_dir: str | os.PathLike[str],
    *,
    img_dir: str | os.PathLike[str] | None = None,
    skip_existing: bool = True,
    summary: DatasetDownload | None = None,
    progress_cb: ProgressCallback = None,
    bytes_progress_cb: ProgressCallback = None,
) -> AsyncIterator[list[ImageInfo]]:
    """Download every blob of a dataset; yield its image pages once their blobs are on disk.

    ``img_dir``: also write each image to ``img_dir/<name>`` (blob images sliced locally,
    others via ``images.bulk.download``). ``skip_existing``: a ``<id>.tar`` already present is
    trusted (only verified downloads ever get that name). ``progress_cb`` counts images,
    ``bytes_progress_cb`` blob bytes (rewound when a stream restarts).
    """
    summary = summary if summary is not None else DatasetDownload()
    images_progress = Progress(progress_cb)
    bytes_progress = Progress(bytes_progress_cb)
    tasks: dict[int, asyncio.Task[Path]] = {}
    sem = api.semaphore("download")

    async def fetch(related_id: int, download_id: str) -> Path:
        dest = blob_path(blob_dir, related_id)
        if skip_existing and await asyncio.to_thread(dest.is_file):
            return dest
        async with sem:
            res = await api.transport.download(
                "images.data.download",
                {"projectId": project_id, "downloadId": download_id},
                dest,
                progress=bytes_progress,
            )
        summary.results[related_id] = res
        return dest

    try:
        async for page in api.image.get_list_generator_async(dataset_id):
            for info in page:
                rid = info.related_data_id
                if rid is not None and rid not in tasks:
                    if info.download_id is None:
                        raise BlobflowError(f"image {info.id} has relatedDataId but no downloadId")
                    tasks[rid] = asyncio.ensure_future(fetch(rid, info.download_id))
            needed = {i.related_data_id for i in page if i.related_data_id is not None}
            for rid in needed:
                summary.blobs[rid] = await tasks[rid]
            if img_dir is not None:
                summary.extracted += await _extract_page(api, dataset_id, page, summary, img_dir)
            summary.images += len(page)
            images_progress.advance(len(page))
            yield page
        for rid, task in tasks.items():
            summary.blobs[rid] = await task
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


async def _extract_page(
    api: Api,
    dataset_id: int,
    page: list[ImageInfo],
    summary: DatasetDownload,
    img_dir: str | os.PathLike[str],
) -> int:
    by_blob: dict[int, list[tuple[str, int, int]]] = {}
    others: list[ImageInfo] = []
    for info in page:
        if info.related_data_id is None or info.offset_start is None or info.offset_end is None:
            others.append(info)
            continue
        assert info.name is not None
        by_blob.setdefault(info.related_data_id, []).append(
            (info.name, info.offset_start, info.offset_end)
        )
    n = 0
    for rid, entries in by_blob.items():
        n += await extract_ranges(
            summary.blobs[rid], img_dir, entries, batch_size=api.config.extract_batch
        )
    if others:
        names = [safe_member_name(i.name or "") for i in others]
        await api.image.download_paths(
            dataset_id,
            [i.id for i in others],  # type: ignore[misc]
            [Path(img_dir) / name for name in names],
        )
        n += len(others)
    return n
